// Command ermine is the ermine toolbox:
//
//	ermine bench [--quick|--smoke]   benchmark ermine beside stoat.js and a quick Go bot
//	ermine demo                      run an example bot against the embedded fake Stoat server
//	ermine fakeserver --listen ADDR  serve a fake Stoat (API and events) for bots and clients
//	ermine gen [flags]               write a synthetic world and event stream (JSONL) for a seed
//	ermine node [flags]              run one node of a cluster (cluster mode)
//	ermine record --out FILE         record what a bot's connection receives, for replay
//	ermine replay [--format F] FILE  run a recorded stream through the pipeline; print the cache
//
// Run `ermine <command> -h` for a command's flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"bench":      {"benchmark ermine end to end beside stoat.js and a quick Go bot; writes bench/RESULTS.md", runBench},
	"demo":       {"run an example bot against the embedded fake Stoat server, with live progress", runDemo},
	"fakeserver": {"serve a fake Stoat (API and events) on loopback; no account needed", runFakeServer},
	"gen":        {"write a synthetic world and event stream for a seed", runGen},
	"node":       {"run one node of a cluster: the bot's owners spread over the nodes, the connection where the cluster places it", runNode},
	"record":     {"record every frame a bot's connection receives, in the format replay reads", runRecord},
	"replay":     {"run a recorded stream through the pipeline and print the cache as canonical JSON", runReplay},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ermine: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "ermine %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ermine <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, commands[n].summary)
	}
}
