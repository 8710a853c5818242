// Package commands is a command framework for ermine bots, in the manner of discord.py's and
// stoat.py's commands extensions: a Router that recognises prefixed messages ("!ban @bob 1d
// spam", or "<@BOT> ban …"), finds the command and its subcommand, parses typed arguments (users,
// members, channels, roles, numbers, durations, words, quoted phrases, the rest of the line),
// runs checks and cooldowns, and answers what went wrong — usage and reason — to the user.
// Help is generated from the definitions.
//
// The Router is an ordinary ermine handler for MessageCreate events (ermine.Handle(bot,
// router.Handle)): a command runs on the owner of its channel, after the channel's earlier
// messages, and sees the cache as that owner left it (see package dispatch). A command that
// waits (a REST call, Reply included, or ermine.WaitFor) detaches first, as every handler does,
// so one slow command does not hold its channel back.
//
// What goes wrong is told apart:
//
//   - a mistake in what the user typed (a missing argument, "abc" for a number, an unknown
//     user) is answered with the reason and the command's usage;
//   - a refusal (a failed Check, a cooldown, or a Denied returned by Run) is answered with its
//     reason;
//   - any other error (from Run, a Check, or a REST lookup wrapped with Internal) is the bot's:
//     it is logged through the handler's Logger, and answered with a fixed text only if the
//     Router was built WithErrorReply.
//
// Mentions are written as Stoat writes them: <@USER_ID>, <#CHANNEL_ID>, <%ROLE_ID>.
package commands
