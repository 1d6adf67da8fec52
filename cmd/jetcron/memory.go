package main

import (
	"os"
	"runtime/debug"
)

// serverMemoryLimit is a server agent's soft memory limit, unless GOMEMLIMIT sets
// another. A server keeps every job in memory (about 1 KB each) next to the embedded
// JetStream's indexes and block caches, and Go by default lets the heap grow to twice
// what is live before it collects: with 100,000 jobs a server would settle at
// 400-600 MB. Near the limit the collector runs sooner instead. The limit is soft:
// live data beyond it (several hundred thousand jobs) is kept at the cost of more
// frequent collections (Go caps them at half the CPU); raise GOMEMLIMIT for those.
const serverMemoryLimit = 256 << 20

// limitServerMemory sets serverMemoryLimit unless GOMEMLIMIT is set, and returns the
// limit in force.
func limitServerMemory() int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
