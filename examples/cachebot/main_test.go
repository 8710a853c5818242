package main

import (
	"testing"

	"github.com/ermine-rt/ermine/examples/internal/runner"
)

func TestScript(t *testing.T) {
	runner.Test(t, register, script)
}
