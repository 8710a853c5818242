package actors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seqOwner checks that the messages of its key arrive as 1, 2, 3…, across activations (its
// state is kept on passivation).
type seqOwner struct {
	t        *testing.T
	last     int
	received *atomic.Int64
}

func (o *seqOwner) Receive(ctx Context, msg any) {
	n := msg.(int)
	if n != o.last+1 {
		o.t.Errorf("%s: got %d after %d", ctx.Key(), n, o.last)
	}
	o.last = n
	o.received.Add(1)
}

func (o *seqOwner) Passivate() any { return o }

// TestOrderAcrossPassivationAndDirectDelivery sends numbered messages to many keys from several
// senders, with pauses long enough for owners to passivate between bursts, so that messages take
// both paths (straight to an active owner, through the partition to a stopping or new one): each
// key must see every message once, in order.
func TestOrderAcrossPassivationAndDirectDelivery(t *testing.T) {
	var received atomic.Int64
	d := NewLocal(func(key Key, saved any) Owner {
		if o, ok := saved.(*seqOwner); ok {
			return o
		}
		return &seqOwner{t: t, received: &received}
	}, WithIdlePassivation(KindChannel, time.Millisecond), WithPartitions(2))
	const senders, keysPerSender, bursts, perBurst = 4, 8, 20, 25
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, keysPerSender)
			for b := 0; b < bursts; b++ {
				for i := 0; i < perBurst; i++ {
					for k := range next {
						next[k]++
						d.Deliver(Key{Kind: KindChannel, ID: fmt.Sprintf("s%d-k%d", s, k)}, next[k])
					}
				}
				time.Sleep(time.Duration(b%4) * time.Millisecond) // sometimes idle long enough
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for d.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	want := int64(senders * keysPerSender * bursts * perBurst)
	if got := received.Load(); got != want {
		t.Fatalf("received %d of %d messages", got, want)
	}
	if d.Stats().Passivations == 0 {
		t.Fatal("no owner passivated: the test did not exercise the partition path")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKeysListsActiveAndPassivatedOwners: the listing names every owner that holds state,
// whether it is active or passivated with its state kept, and filters by kind.
func TestKeysListsActiveAndPassivatedOwners(t *testing.T) {
	var received atomic.Int64
	d := NewLocal(func(key Key, saved any) Owner {
		if o, ok := saved.(*seqOwner); ok {
			return o
		}
		return &seqOwner{t: t, received: &received}
	}, WithIdlePassivation(KindChannel, time.Millisecond))
	defer d.Close(context.Background())
	for i := 0; i < 10; i++ {
		d.Deliver(Key{Kind: KindChannel, ID: fmt.Sprint("c", i)}, 1)
	}
	d.Deliver(Key{Kind: KindServer, ID: "s"}, 1)
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().Passivations < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d.Stats().Passivations < 10 {
		t.Fatalf("%d channel owners passivated, want 10", d.Stats().Passivations)
	}
	ctx := context.Background()
	all, err := d.Keys(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 11 {
		t.Fatalf("Keys listed %d owners, want 11: %v", len(all), all)
	}
	channels, err := d.Keys(ctx, KindChannel)
	if err != nil {
		t.Fatal(err)
	}
	if len(channels) != 10 {
		t.Fatalf("Keys(KindChannel) listed %d owners, want 10: %v", len(channels), channels)
	}
	for _, k := range channels {
		if k.Kind != KindChannel {
			t.Fatalf("Keys(KindChannel) listed %s", k)
		}
	}
}
