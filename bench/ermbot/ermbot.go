// Package ermbot is the benchmark's ermine bot, written the way the README shows a user writing
// one: ermine.New with a Token and an EventsURL, ermine.Handle for the events it cares about,
// bot.Run; the default Config otherwise (only the wire format is chosen, and the frame size limit
// is raised for a Ready larger than the default 64 MiB).
package ermbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/bench/measure"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Run connects an ermine bot to spec.URL, counts its MessageCreate handler calls in rec until
// spec.Expect have run (or the Ready is applied, for Expect 0), measures memory if asked, then
// stops the bot. When ctx ends first, the report says TimedOut.
func Run(ctx context.Context, spec measure.Spec, rec *measure.Recorder) (measure.Report, error) {
	format, err := bonfire.ParseFormat(spec.Format)
	if err != nil {
		return measure.Report{}, err
	}
	cfg := ermine.Config{Token: spec.Token, EventsURL: spec.URL, WireFormat: format}
	if spec.MaxFrame > 0 {
		cfg.Connection.MaxFrameSize = spec.MaxFrame
	}
	bot, err := ermine.New(cfg)
	if err != nil {
		return measure.Report{}, fmt.Errorf("ermbot: %w", err)
	}
	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		rec.Ready()
		return nil
	})
	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		rec.Begin(ev.GetMessage().GetContent())
		switch spec.Handler {
		case measure.HandlerCPU:
			measure.Spin(10 * time.Microsecond)
		case measure.HandlerWait:
			ctx.Detach() // the channel's next events go on while this handler waits
			measure.Sleep(ctx, time.Millisecond)
		}
		rec.End()
		return nil
	})

	runCtx, stop := context.WithCancel(context.Background()) // stopped below, after measuring
	defer stop()
	fd, err := feed.Connect(runCtx, bot) // Run, with Drain for the cache updates still in flight
	if err != nil {
		return measure.Report{}, fmt.Errorf("ermbot: %w", err)
	}
	runErr := make(chan error, 1)
	go func() {
		<-fd.Done()
		runErr <- fd.Err()
	}()

	var rep measure.Report
	ended, err := wait(ctx, rec, runErr)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		rep.TimedOut, err = true, nil
	}
	if err == nil && !rep.TimedOut && (spec.Expect == 0 || spec.Memory) {
		// The last handler has run; its cache updates (and the Ready's) may still be in flight.
		if err = fd.Drain(ctx); err == nil && spec.Expect == 0 {
			rec.Applied()
		}
	}
	if err == nil && !rep.TimedOut && spec.Memory {
		rep.RSS, rep.Heap, err = measure.Memory(spec.HeapProfile)
		st := bot.Cache().Stats()
		rep.Cached = map[string]int{"messages": st.Messages.Entries, "users": st.Users.Entries,
			"members": st.Members.Entries, "channels": st.Channels.Entries, "servers": st.Servers.Entries}
	}
	stop()
	if !ended {
		if stopErr := <-runErr; err == nil && stopErr != nil {
			err = fmt.Errorf("ermbot: stopping the bot: %w", stopErr)
		}
	}
	r := rec.Report()
	r.RSS, r.Heap, r.Cached, r.TimedOut = rep.RSS, rep.Heap, rep.Cached, rep.TimedOut
	return r, err
}

// wait waits for the run's end: the Ready, then Expect handler calls. ended reports that the
// bot stopped by itself (its error was received).
func wait(ctx context.Context, rec *measure.Recorder, runErr <-chan error) (ended bool, err error) {
	for _, ch := range []<-chan struct{}{rec.ReadyDone(), rec.Done()} {
		select {
		case <-ch:
		case err := <-runErr:
			if err == nil {
				err = errors.New("the connection ended")
			}
			return true, fmt.Errorf("ermbot: the bot stopped after %d handler calls: %w", rec.Handled(), err)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return false, nil
}
