package subjects

import (
	"fmt"
	"math"
	"strconv"
)

// A run's output travels twice. Live: while it runs, its runner publishes what it
// prints on OutputSubject with plain core NATS publishes (no stream keeps them: at most
// once, bounded in rate by the runner, for whoever subscribes at the time). Stored:
// after each execution, its runner puts the tail in LogsBucket under the run's key;
// that tail is authoritative.
//
// Both are cut from one byte stream per run: everything its executions printed, each
// restart's after a line that names it. Every live message carries the offset of its
// first byte in that stream (OutputOffsetHeader), and a stored tail that lost its
// beginning says how many bytes it lost (OutputCutHeader), so that a follower can
// place live lines after a stored tail exactly.

// outputPrefix is the subject prefix of live output.
const outputPrefix = "jetcron.output"

// Live output subject filters.
const (
	// OutputFilter matches the live output of every run.
	OutputFilter = outputPrefix + ".>"
	// OutputRunsFilter matches the live output of every run that is not a sysbatch
	// job's run on one node (their subjects do not name a node).
	OutputRunsFilter = outputPrefix + ".*.*"
)

// Headers of live output messages and stored output tails.
const (
	// OutputOffsetHeader is on every live output message: the offset, in the run's
	// output stream, of the first byte of its data (decimal). For a DroppedHeader
	// message, the offset of the first byte after the bytes it reports.
	OutputOffsetHeader = "Jetcron-Output-Offset"
	// OutputDroppedHeader marks a live message whose data is not output but a note
	// (DroppedNote): how many bytes (this header's decimal value) the runner did not
	// publish live, just before OutputOffsetHeader.
	OutputDroppedHeader = "Jetcron-Output-Dropped"
	// OutputCutHeader is on a stored output tail that does not begin at the start of
	// the stream: how many bytes were cut (decimal). The tail's first line is then its
	// CutLine, and the rest is the stream from that offset to its end.
	OutputCutHeader = "Jetcron-Output-Cut"
)

// OutputSubject is where the live output of the run stored under key (RunKey, or
// NodeRunKey for a sysbatch job's run on one node) is published:
// "jetcron.output.<job token>.<unix seconds>[.<node token>]".
func OutputSubject(key string) string { return outputPrefix + "." + key }

// NodeOutputFilter matches the live output of the sysbatch runs on node.
func NodeOutputFilter(node string) string { return outputPrefix + ".*.*." + Token(node) }

// CutLine is the first line of an output that lost its first cut bytes and keeps
// the last kept: "... 9.9 MiB cut; last 64 KiB follow".
func CutLine(cut, kept int64) string {
	return "... " + ByteSize(cut) + " cut; last " + ByteSize(kept) + " follow\n"
}

// DroppedNote is the line of a live message that reports bytes and lines of output
// its runner did not publish live, being over rate (bytes a second).
func DroppedNote(bytes, lines, rate int64) string {
	return fmt.Sprintf("--- jetcron: %s (%d lines) of output not sent live: over %s/s ---\n", ByteSize(bytes), lines, ByteSize(rate))
}

// ByteSize says n bytes in binary units, rounded down, with one decimal below 10
// of a unit: "512 B", "1.5 KiB", "64 KiB", "9.9 MiB", "10 MiB".
func ByteSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	unit := ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	if v < 10 {
		v = math.Floor(v*10) / 10
	} else {
		v = math.Floor(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit
}
