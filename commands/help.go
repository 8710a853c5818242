package commands

import (
	"fmt"
	"strings"
)

// Help returns a help command generated from the router's definitions: "help" lists the
// commands with their usage and the first line of their description, "help <command>" (or
// "help config set") explains one: usage, description, aliases, arguments, subcommands,
// cooldown. Add it like any command; change its Name or Aliases if you like.
func Help() *Command {
	topic := Rest("command", "the command to explain").Optional()
	return &Command{
		help:        true,
		Name:        "help",
		Description: "Lists the commands, or explains one.",
		Args:        []Arg{topic},
		Run: func(ctx *Context) error {
			r := ctx.Router
			if !topic.Given(ctx) {
				_, err := ctx.Reply(r.list())
				return err
			}
			words := strings.Fields(topic.Get(ctx))
			cmd := r.byName[r.key(strings.TrimPrefix(words[0], r.shown))]
			for _, w := range words[1:] {
				if cmd == nil {
					break
				}
				cmd = cmd.subs[r.key(w)]
			}
			if cmd == nil {
				return Deny("there is no command %q: `%s` lists them", topic.Get(ctx), r.display()+ctx.Command.Path())
			}
			_, err := ctx.Reply(r.explain(cmd))
			return err
		},
	}
}

// list is the answer to a bare help.
func (r *Router) list() string {
	var b strings.Builder
	b.WriteString("Commands:")
	for _, c := range r.commands {
		fmt.Fprintf(&b, "\n`%s` — %s", r.usage(c), firstLine(c.Description))
	}
	fmt.Fprintf(&b, "\nMore about one: `%s`", r.helpLine(nil))
	return b.String()
}

// explain is the answer to help about cmd.
func (r *Router) explain(c *Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s`", r.usage(c))
	if c.Description != "" {
		b.WriteString("\n" + c.Description)
	}
	if len(c.Aliases) > 0 {
		b.WriteString("\naliases: " + strings.Join(c.Aliases, ", "))
	}
	for _, a := range c.Args {
		s := a.spec()
		fmt.Fprintf(&b, "\n• %s (%s", s.name, s.kind)
		switch {
		case s.def != "":
			fmt.Fprintf(&b, ", default %s", s.def)
		case s.optional:
			b.WriteString(", optional")
		}
		b.WriteString(")")
		if s.desc != "" {
			b.WriteString(": " + s.desc)
		}
	}
	for _, sub := range c.Subcommands {
		fmt.Fprintf(&b, "\n`%s` — %s", r.usage(sub), firstLine(sub.Description))
	}
	if c.Cooldown != nil {
		b.WriteString("\ncooldown: " + c.Cooldown.String())
	}
	return b.String()
}

// usage is a command's usage line: "!greet <user> [count=1]".
func (r *Router) usage(c *Command) string {
	var b strings.Builder
	b.WriteString(r.display() + c.Path())
	if c.Run == nil {
		names := make([]string, len(c.Subcommands))
		for i, s := range c.Subcommands {
			names[i] = s.Name
		}
		fmt.Fprintf(&b, " <%s>", strings.Join(names, "|"))
	}
	for _, a := range c.Args {
		b.WriteString(" " + argUsage(a.spec()))
	}
	return b.String()
}

// helpLine is how to ask the help command about c (nil: about any command); "" without one.
func (r *Router) helpLine(c *Command) string {
	switch {
	case r.help == nil:
		return ""
	case c == nil:
		return r.display() + r.help.Name + " <command>"
	}
	return r.display() + r.help.Name + " " + c.Path()
}

// display is the prefix help writes: the first one configured, or "@bot " when commands start
// only with a mention.
func (r *Router) display() string {
	if r.shown != "" {
		return r.shown
	}
	return "@bot "
}

// argUsage is an argument as usage lines show it: <user>, [count=1], <reason...>.
func argUsage(s *argSpec) string {
	n := s.name
	if s.rest {
		n += "..."
	}
	switch {
	case s.def != "":
		return "[" + n + "=" + s.def + "]"
	case s.optional:
		return "[" + n + "]"
	}
	return "<" + n + ">"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
