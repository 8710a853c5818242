// Package runner runs ermine's examples: against Stoat with a token, or against an embedded fake
// Stoat server with a short scripted conversation, so every example runs with one command and no
// account, and its test drives the same script.
package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// Script is a conversation with the bot on the fake server: a user (alice) speaks in #general.
type Script struct {
	srv     *stoattest.Server
	channel string
	user    string
	self    string
	log     func(format string, args ...any)
}

// SayAndExpect posts content as the user and waits for the bot to answer want in the channel.
func (s *Script) SayAndExpect(ctx context.Context, content, want string) error {
	posted, err := s.srv.PostMessage(&stoatpb.Message{Channel: s.channel, Author: s.user, Content: content})
	if err != nil {
		return err
	}
	s.log("alice: %s", content)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		for _, m := range s.srv.World().Messages[s.channel] {
			if m.GetAuthor() == s.self && m.GetId() > posted.GetId() && m.GetContent() == want {
				s.log("bot:   %s", m.GetContent())
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bot did not answer %q to %q: %w", want, content, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Run starts the fake server and the bot, runs script, and stops both.
func Run(ctx context.Context, srv *stoattest.Server, register func(*ermine.Bot), script func(context.Context, *Script) error, logf func(string, ...any)) error {
	w := srv.World()
	general := w.ChannelByName("general")
	alice := w.UserByName("alice")
	if general == nil || alice == nil {
		return errors.New("runner: the fake world has no #general or alice")
	}
	bot, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL})
	if err != nil {
		return err
	}
	register(bot)
	ready := make(chan struct{}, 1)
	ermine.Handle(bot, func(*ermine.Context, *stoatpb.ReadyEvent) error {
		select {
		case ready <- struct{}{}:
		default:
		}
		return nil
	})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- bot.Run(runCtx) }()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("runner: the bot stopped before Ready: %w", err)
	case <-time.After(15 * time.Second):
		return errors.New("runner: no Ready within 15s")
	}
	scriptErr := script(ctx, &Script{srv: srv, channel: general.GetId(), user: alice.GetId(), self: w.Self.GetId(), log: logf})
	stop()
	return errors.Join(scriptErr, <-done)
}

// Test runs an example's script against a fresh fake server.
func Test(t *testing.T, register func(*ermine.Bot), script func(context.Context, *Script) error) {
	t.Helper()
	srv := stoattest.NewServer(t, stoattest.WithoutRateLimits())
	if err := Run(context.Background(), srv, register, script, t.Logf); err != nil {
		t.Fatal(err)
	}
}

// Main is an example's main: with --fake it plays the script against an embedded fake server;
// otherwise it connects to Stoat with $STOAT_TOKEN (or --token) and runs until interrupted.
func Main(register func(*ermine.Bot), script func(context.Context, *Script) error) {
	fake := flag.Bool("fake", false, "run against an embedded fake Stoat server and play a short conversation")
	token := flag.String("token", os.Getenv("STOAT_TOKEN"), "bot token (default $STOAT_TOKEN)")
	api := flag.String("api", "https://api.stoat.chat", "Stoat API base URL")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	var err error
	if *fake {
		var srv *stoattest.Server
		if srv, err = stoattest.Start(ctx, "127.0.0.1:0", stoattest.WithoutRateLimits()); err == nil {
			err = Run(ctx, srv, register, script, logf)
			srv.Close()
		}
	} else {
		if *token == "" {
			fmt.Fprintln(os.Stderr, "set STOAT_TOKEN (or --token), or use --fake")
			os.Exit(2)
		}
		var bot *ermine.Bot
		if bot, err = ermine.New(ermine.Config{Token: *token, APIURL: *api, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}); err == nil {
			register(bot)
			err = bot.Run(ctx)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
