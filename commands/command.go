package commands

import (
	"fmt"
	"strings"

	"github.com/ermine-rt/ermine"
)

// Command is a command: a name, what it takes and what it does. Build it as a literal and add it
// to a Router; do not change it afterwards.
type Command struct {
	// Name is what follows the prefix ("ping"); it must be one word.
	Name string
	// Aliases are other names for it.
	Aliases []string
	// Description says what it does; help lists its first line.
	Description string
	// Args are its arguments, in order: required ones first, then optional ones, then at most
	// one Rest.
	Args []Arg
	// Checks run in order before the arguments are parsed, after those of the command's parents;
	// the first that fails answers why.
	Checks []Check
	// Cooldown limits how often it runs (nil: never).
	Cooldown *Cooldown
	// Subcommands are chosen by the word after the name ("!config set x 1"). A command with
	// subcommands and no Run answers with their list when none is named.
	Subcommands []*Command
	// Run does the command. An error is logged, and answered if the Router is configured to
	// (WithErrorReply); Denied errors are answered with their reason.
	Run func(ctx *Context) error

	parent *Command
	subs   map[string]*Command
	help   bool // built by Help
}

// Context is what a command's Run receives: the handler's ermine.Context (Reply, Send, Channel,
// Author, Logger…) with the command and its parsed arguments.
type Context struct {
	*ermine.Context
	// Router is the router that dispatched the command.
	Router *Router
	// Command is the command being run.
	Command *Command
	// Prefix is the prefix the message started with ("!", or the bot's mention).
	Prefix string

	values map[Arg]any
}

// Path returns the command's full name: its parents' names, then its own ("config set").
func (c *Command) Path() string {
	if c.parent == nil {
		return c.Name
	}
	return c.parent.Path() + " " + c.Name
}

// index validates c and its subcommands and builds their lookup tables. It panics on a mistake
// in the definitions, as http.ServeMux does on a bad pattern: they are fixed when the bot starts.
func (c *Command) index(parent *Command, fold bool) {
	if c.Name == "" || strings.ContainsFunc(c.Name, isSpace) {
		panic(fmt.Sprintf("commands: command name %q must be one word", c.Name))
	}
	if c.Run == nil && len(c.Subcommands) == 0 {
		panic(fmt.Sprintf("commands: %s has neither Run nor Subcommands", c.Name))
	}
	c.parent = parent
	seen := map[string]bool{}
	optional := false
	for i, a := range c.Args {
		s := a.spec()
		switch {
		case seen[s.name]:
			panic(fmt.Sprintf("commands: %s has two arguments named %q", c.Path(), s.name))
		case s.rest && i != len(c.Args)-1:
			panic(fmt.Sprintf("commands: %s: the rest-of-line argument %q must be the last", c.Path(), s.name))
		case optional && !s.optional:
			panic(fmt.Sprintf("commands: %s: required argument %q follows an optional one", c.Path(), s.name))
		}
		seen[s.name] = true
		optional = s.optional
	}
	c.subs = map[string]*Command{}
	for _, sub := range c.Subcommands {
		sub.index(c, fold)
		addNames(c.subs, sub, fold, c.Path()+" ")
	}
}

// addNames enters cmd in table under its name and aliases.
func addNames(table map[string]*Command, cmd *Command, fold bool, where string) {
	for _, n := range append([]string{cmd.Name}, cmd.Aliases...) {
		if fold {
			n = strings.ToLower(n)
		}
		if table[n] != nil {
			panic(fmt.Sprintf("commands: two commands are named %q", where+n))
		}
		table[n] = cmd
	}
}
