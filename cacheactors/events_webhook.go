package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The webhook events: a channel owner's webhooks, found through the router's webhook → channel
// index.

var webhookCreate = on[*channelOwner, *stoatpb.WebhookCreateEvent]{
	key: "channel_id (remembered per webhook)", w: "cache the webhook (it goes with the channel)",
	tests: []string{"TestEventEffects/WebhookCreate/Update/Delete"},
	route: func(r *Router, e *stoatpb.WebhookCreateEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		r.webhookChannel[e.GetWebhook().GetId()] = e.GetWebhook().GetChannelId()
		return channelKey(e.GetWebhook().GetChannelId())
	},
	process: func(o *channelOwner, e *stoatpb.WebhookCreateEvent) {
		if id := e.GetWebhook().GetId(); id != "" {
			if !slices.Contains(o.webhooks, id) {
				o.webhooks = append(o.webhooks, id)
			}
			o.store().webhooks.set(id, e.GetWebhook(), o.writing.Kind)
			o.store().wrote(&o.writing)
		}
	},
}.spec()

var webhookUpdate = on[*channelOwner, *stoatpb.WebhookUpdateEvent]{
	key: "the webhook's channel (index)", r: "Before, After (remove, then data)", w: "set After",
	p:     "gated: if channel_id changed, the new channel takes the webhook over",
	py:    "stoat.py caches no webhooks.",
	tests: []string{"TestEventEffects/WebhookCreate/Update/Delete", "TestEventEffects/WebhookUpdate/moves channel"},
	route: func(r *Router, e *stoatpb.WebhookUpdateEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		ch, ok := r.webhookChannel[e.WebhookId]
		if !ok {
			return r.shard
		}
		e.ChannelId = ch
		key := channelKey(ch)
		if to := e.GetWebhook().GetChannelId(); to != "" && to != ch {
			// The webhook moves: its new channel takes it over (and drops it on ChannelDelete).
			r.webhookChannel[e.WebhookId] = to
			r.cascade(d, key, channelKey(to), wrapPatch(&ownerpb.AdoptWebhook{Webhook: e.WebhookId}), emit)
		}
		return key
	},
	before: func(o *channelOwner, e *stoatpb.WebhookUpdateEvent) {
		if e.Before = o.store().webhooks.get(e.WebhookId); e.Before != nil {
			e.After = applyWebhook(e.Before, e.Webhook, e.Remove)
		}
	},
	process: func(o *channelOwner, e *stoatpb.WebhookUpdateEvent) {
		if e.After != nil {
			o.store().webhooks.set(e.WebhookId, e.After, o.writing.Kind)
			o.store().wrote(&o.writing)
			if e.After.ChannelId != o.key.ID {
				o.webhooks = slices.DeleteFunc(o.webhooks, func(w string) bool { return w == e.WebhookId })
			}
		}
	},
}.spec()

var webhookDelete = on[*channelOwner, *stoatpb.WebhookDeleteEvent]{
	key: "the webhook's channel (index)", r: "Webhook", w: "remove it",
	tests: []string{"TestEventEffects/WebhookCreate/Update/Delete"},
	route: func(r *Router, e *stoatpb.WebhookDeleteEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		ch, ok := r.webhookChannel[e.WebhookId]
		if !ok {
			return r.shard
		}
		delete(r.webhookChannel, e.WebhookId)
		e.ChannelId = ch
		return channelKey(ch)
	},
	before: func(o *channelOwner, e *stoatpb.WebhookDeleteEvent) { e.Webhook = o.store().webhooks.get(e.WebhookId) },
	process: func(o *channelOwner, e *stoatpb.WebhookDeleteEvent) {
		o.store().webhooks.del(e.WebhookId)
		o.webhooks = slices.DeleteFunc(o.webhooks, func(w string) bool { return w == e.WebhookId })
	},
}.spec()
