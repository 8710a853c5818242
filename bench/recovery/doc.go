// Package recovery holds the benchmarks of what a reconnect costs and loses: the backfill of the
// messages missed while the connection was away (BenchmarkBackfill100x100) and a chaos soak that
// cuts the connection under a steady stream (BenchmarkChaosSoak), both against the fake Stoat
// server of package stoattest. They are Go benchmarks (run with -bench; see README.md), so the
// package's code is all in its _test.go files and plain `go test ./...` runs nothing here.
package recovery
