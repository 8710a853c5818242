package commands

import (
	"errors"
	"fmt"
)

// usageError is a mistake in what the user typed: answered with the command's usage.
type usageError struct{ what string }

func (e *usageError) Error() string { return e.what }

// run runs cmd for the rest of the line in sc: checks, arguments, cooldown, then Run. Whatever
// the user got wrong is answered; what went wrong in the bot is logged.
func (r *Router) run(ctx *Context, sc *scanner) error {
	cmd := ctx.Command
	if err := runChecks(ctx, cmd); err != nil {
		return r.fail(ctx, err)
	}
	if cmd.Run == nil {
		word, _, _ := sc.next()
		what := "which one?"
		if word != "" {
			what = fmt.Sprintf("there is no %q here", word)
		}
		return r.fail(ctx, &usageError{what})
	}
	if err := ctx.parseArgs(sc); err != nil {
		return r.fail(ctx, err)
	}
	if cd := cmd.Cooldown; cd != nil {
		if wait, ok := cd.take(cd.key(ctx)); !ok {
			return r.fail(ctx, Deny("slow down: try again in %s", waitText(wait)))
		}
	}
	return r.fail(ctx, cmd.Run(ctx))
}

// runChecks runs the checks of cmd's parents, then cmd's own: a subcommand is guarded by its
// group's checks too.
func runChecks(ctx *Context, cmd *Command) error {
	if cmd.parent != nil {
		if err := runChecks(ctx, cmd.parent); err != nil {
			return err
		}
	}
	for _, check := range cmd.Checks {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// parseArgs fills ctx.values from the words of sc, in the order of the command's arguments.
func (ctx *Context) parseArgs(sc *scanner) error {
	ctx.values = make(map[Arg]any, len(ctx.Command.Args))
	for _, a := range ctx.Command.Args {
		s := a.spec()
		var word string
		var ok bool
		if s.rest {
			word = sc.rest()
			ok = word != ""
		} else {
			var err error
			if word, ok, err = sc.next(); err != nil {
				return &usageError{err.Error()}
			}
		}
		if !ok {
			if s.optional {
				continue
			}
			return &usageError{fmt.Sprintf("%s is missing", argUsage(s))}
		}
		v, err := a.parse(ctx, word)
		if isInternal(err) {
			return err
		}
		if err != nil {
			return &usageError{fmt.Sprintf("%s: %v", s.name, err)}
		}
		ctx.values[a] = v
	}
	if extra, ok, _ := sc.next(); ok {
		return &usageError{fmt.Sprintf("I did not expect %q", extra)}
	}
	return nil
}

// fail answers err to the user as it deserves, and logs it when it is the bot's fault.
func (r *Router) fail(ctx *Context, err error) error {
	var text string
	var usage *usageError
	switch d, denied := isDenied(err); {
	case err == nil:
		return nil
	case errors.As(err, &usage):
		text = fmt.Sprintf("%s\nusage: `%s`", usage.what, r.usage(ctx.Command))
		if more := r.helpLine(ctx.Command); more != "" {
			text += fmt.Sprintf(" (more: `%s`)", more)
		}
	case denied:
		text = d.Reason
	default:
		ctx.Logger().Error("command failed", "command", ctx.Command.Path(), "err", err)
		if text = r.errorReply; text == "" {
			return nil
		}
	}
	_, err = ctx.Reply(text)
	return err
}
