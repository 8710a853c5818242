package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ermine-rt/ermine/bench/suite"
)

// runBench runs the benchmark suite (package bench/suite): ermine end to end over loopback
// WebSockets beside stoat.js and a quick Go bot, in-process replay against json.Valid, memory,
// Ready ingestion and scaling; a table at the end, and bench/RESULTS.md and bench/results.json.
func runBench(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == suite.ChildArg { // a process the suite started (server, bot…)
		return suite.RunChild(ctx, args[1:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smaller streams: under 3 minutes on 2 cores")
	smoke := fs.Bool("smoke", false, "tiny streams, every kind of run once: seconds; proves the suite works")
	out := fs.String("out", "", "directory for RESULTS.md and results.json (default bench/ in the checkout; - for none)")
	only := fs.String("only", "", "comma-separated sections to run: "+strings.Join(suite.Sections, ","))
	note := fs.String("note", "", "a note printed under the command in RESULTS.md")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	mode := suite.Full
	switch {
	case *quick && *smoke:
		return errors.New("--quick and --smoke exclude each other")
	case *quick:
		mode = suite.Quick
	case *smoke:
		mode = suite.Smoke
	}
	// The command as it reproduces the figures (the note only annotates them).
	command := "go run ./cmd/ermine bench"
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "note":
		case f.Value.String() == "true":
			command += " --" + f.Name
		default:
			command += " --" + f.Name + " " + f.Value.String()
		}
	})
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary to re-execute: %w", err)
	}
	cfg := suite.Config{Mode: mode, Exe: []string{exe, "bench", suite.ChildArg}, Progress: os.Stderr, Command: command, Note: *note}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.Out = *out
	res, err := suite.Run(ctx, cfg)
	if res != nil {
		fmt.Println()
		if werr := res.WriteTable(os.Stdout); werr != nil {
			err = errors.Join(err, werr)
		}
		if res.Written != "" {
			fmt.Printf("\nwritten: %s, %s\n", filepath.Join(res.Written, "RESULTS.md"), filepath.Join(res.Written, "results.json"))
		}
	}
	return err
}
