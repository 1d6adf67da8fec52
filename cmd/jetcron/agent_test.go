package main

import (
	"runtime/debug"
	"testing"
)

func TestServerAgentsGetASoftMemoryLimitUnlessGOMEMLIMITIsSet(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	if got := limitServerMemory(); got != serverMemoryLimit {
		t.Fatalf("memory limit %d, want %d", got, serverMemoryLimit)
	}
	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := limitServerMemory(); got != before {
		t.Fatalf("memory limit %d with GOMEMLIMIT set, want it left at %d", got, before)
	}
}
