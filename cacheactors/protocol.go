package cacheactors

import (
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"google.golang.org/protobuf/proto"
)

// The owners' messages are those of package ownerpb (OwnerMessage lists them), delivered as
// pointers. A delivered message is shared and never changed: the messages without fields are
// shared values.
var (
	dropAll     = &ownerpb.Drop{}
	holdTimeout = &ownerpb.HoldTimeout{}
	resumeHeld  = &ownerpb.ResumeHeld{}
)

// pbKey is k as the protocol carries it.
func pbKey(k actors.Key) *ownerpb.OwnerKey {
	return &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(k.Kind), Id: k.ID}
}

// keyOf is the actors.Key of a protocol key.
func keyOf(k *ownerpb.OwnerKey) actors.Key {
	return actors.Key{Kind: actors.Kind(k.GetKind()), ID: k.GetId()}
}

// wrapPatch is a cascade patch as a gated patch or a Dispatch's local patches carry it.
func wrapPatch(p proto.Message) *ownerpb.Patch {
	switch m := p.(type) {
	case *ownerpb.Drop:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_Drop{Drop: m}}
	case *ownerpb.RemoveChannel:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_RemoveChannel{RemoveChannel: m}}
	case *ownerpb.RemoveVoice:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_RemoveVoice{RemoveVoice: m}}
	case *ownerpb.StripRole:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_StripRole{StripRole: m}}
	case *ownerpb.AdoptWebhook:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_AdoptWebhook{AdoptWebhook: m}}
	case *ownerpb.SetRelation:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_SetRelation{SetRelation: m}}
	case *ownerpb.WipeUser:
		return &ownerpb.Patch{Patch: &ownerpb.Patch_WipeUser{WipeUser: m}}
	}
	panic("cacheactors: not a cascade patch")
}

// unwrapPatch is the patch a Patch carries, as the owner applies it.
func unwrapPatch(p *ownerpb.Patch) any {
	switch m := p.GetPatch().(type) {
	case *ownerpb.Patch_Drop:
		return m.Drop
	case *ownerpb.Patch_RemoveChannel:
		return m.RemoveChannel
	case *ownerpb.Patch_RemoveVoice:
		return m.RemoveVoice
	case *ownerpb.Patch_StripRole:
		return m.StripRole
	case *ownerpb.Patch_AdoptWebhook:
		return m.AdoptWebhook
	case *ownerpb.Patch_SetRelation:
		return m.SetRelation
	case *ownerpb.Patch_WipeUser:
		return m.WipeUser
	}
	return p // an empty or unknown patch: the owner reports it unhandled
}
