package commands

import (
	"fmt"
	"sync"
	"time"
)

// Cooldown lets a command run at most Rate times per Per for each user (PerUser) or each
// channel (PerChannel); a use beyond that is answered with the time left. One Cooldown set on
// several commands gives them one shared allowance.
//
// Its state is the Cooldown value itself: in the bot's memory, lost on restart, and not shared
// between processes. The router charges it after the checks and the arguments passed, from the
// handler on the channel's owner: commands of one channel are charged in message order (unless a
// REST lookup of an argument detached the handler first), while different channels run in
// parallel, so a per-user allowance is spent across channels concurrently — a mutex guards the
// state. Entries whose window has passed are swept as the table grows.
type Cooldown struct {
	rate int
	per  time.Duration
	key  func(ctx *Context) string
	what string // "you" or "this channel", for the answer and help
	now  func() time.Time

	mu      sync.Mutex
	uses    map[string][]time.Time // the last rate uses of each key, oldest first
	sweepAt int
}

// PerUser allows each user rate uses per per.
func PerUser(rate int, per time.Duration) *Cooldown {
	return newCooldown(rate, per, "user", func(ctx *Context) string { return ctx.Message().GetAuthor() })
}

// PerChannel allows each channel rate uses per per.
func PerChannel(rate int, per time.Duration) *Cooldown {
	return newCooldown(rate, per, "channel", func(ctx *Context) string { return ctx.Message().GetChannel() })
}

func newCooldown(rate int, per time.Duration, what string, key func(*Context) string) *Cooldown {
	if rate < 1 || per <= 0 {
		panic(fmt.Sprintf("commands: a cooldown needs a positive rate and period, not %d per %v", rate, per))
	}
	return &Cooldown{rate: rate, per: per, key: key, what: what, now: time.Now, uses: map[string][]time.Time{}}
}

// String describes the cooldown, as help shows it: "2 per 10s per user".
func (c *Cooldown) String() string { return fmt.Sprintf("%d per %v per %s", c.rate, c.per, c.what) }

// take spends one use for key, or returns how long until one is free.
func (c *Cooldown) take(key string) (wait time.Duration, ok bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	uses := c.uses[key]
	for len(uses) > 0 && now.Sub(uses[0]) >= c.per {
		uses = uses[1:]
	}
	if len(uses) >= c.rate {
		c.uses[key] = uses
		return uses[0].Add(c.per).Sub(now), false
	}
	c.uses[key] = append(uses, now)
	return 0, true
}

// sweep drops the keys whose uses have all expired, each time the table has doubled since the
// last sweep, so memory follows the active users and not every user ever seen.
func (c *Cooldown) sweep(now time.Time) {
	if len(c.uses) < c.sweepAt {
		return
	}
	for k, uses := range c.uses {
		if now.Sub(uses[len(uses)-1]) >= c.per {
			delete(c.uses, k)
		}
	}
	c.sweepAt = 2*len(c.uses) + 64
}

// waitText says how long is left, rounded up (so the user is never told to retry too early) to
// a tenth of a second below 10s, to the second below 10m, and to the minute above.
func waitText(d time.Duration) string {
	unit := time.Minute
	switch {
	case d < 10*time.Second:
		unit = 100 * time.Millisecond
	case d < 10*time.Minute:
		unit = time.Second
	}
	return ((d + unit - 1) / unit * unit).String()
}
