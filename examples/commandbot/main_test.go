package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/examples/internal/runner"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

func TestScript(t *testing.T) {
	runner.Test(t, register, script)
}

// TestOthers drives what the script cannot, as it speaks only as alice and knows no ids: bob
// lacks ManageMessages, members named by mention, a reminder delivered.
func TestOthers(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithoutRateLimits())
	w := srv.World()
	general := w.ChannelByName("general").GetId()
	alice, bob, carol := w.UserByName("alice").GetId(), w.UserByName("bob").GetId(), w.UserByName("carol").GetId()
	say := func(ctx context.Context, user, content string, want ...string) error {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: general, Author: user, Content: content})
		if err != nil {
			return err
		}
		for {
			var got []string
			for _, r := range srv.World().Messages[general] {
				if r.GetAuthor() == w.Self.GetId() && slices.Contains(r.GetReplies(), m.GetId()) {
					got = append(got, r.GetContent())
				}
			}
			if len(got) >= len(want) {
				if !slices.Equal(got, want) {
					return fmt.Errorf("%s: got %q, want %q", content, got, want)
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: got %q, want %q: %w", content, got, want, ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	err := runner.Run(context.Background(), srv, register, func(ctx context.Context, _ *runner.Script) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, step := range []struct {
			user, content string
			want          []string
		}{
			{bob, "!warn <@" + carol + "> spam", []string{"you need the ManageMessages permission"}},
			{alice, "!warn <@" + carol + "> spam", []string{"<@" + carol + "> has 1 warning(s) now: spam"}},
			{alice, "!warn " + carol + " more spam", []string{"<@" + carol + "> has 2 warning(s) now: more spam"}},
			{alice, "!remind 2m tea", []string{"I remind at most 1m0s ahead"}},
			{bob, "!remind 10ms stretch", []string{"I'll remind you in 10ms: stretch", "⏰ stretch"}},
		} {
			if err := say(ctx, step.user, step.content, step.want...); err != nil {
				return err
			}
		}
		return nil
	}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
}
