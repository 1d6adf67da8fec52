package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// cmdRunLogs is `jetcron run logs JOB/periodic-UNIX`.
func cmdRunLogs(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "run logs", args: "JOB/periodic-UNIX", synopsis: "Prints the captured output of a run: the tail of its combined stdout and\n" +
		"stderr, as the runner stored it in the " + subjects.LogsBucket + " bucket."}, false)
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	runID := pos[0]
	key, err := subjects.RunKeyOf(runID)
	if err != nil {
		return c.fail(stderr, err)
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()

	logs, err := cl.bucket(ctx, subjects.LogsBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	e, err := logs.Get(ctx, key)
	switch {
	case err == nil:
		if _, err := stdout.Write(e.Value()); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return c.fail(stderr, fmt.Errorf("read the output of run %q: %w", runID, err))
	}

	// No output: say whether the run exists and how far it got.
	runs, err := cl.bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	re, err := runs.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c.fail(stderr, fmt.Errorf("run %q not found", runID))
	}
	if err != nil {
		return c.fail(stderr, fmt.Errorf("read run %q: %w", runID, err))
	}
	var r subjects.Run
	if err := json.Unmarshal(re.Value(), &r); err != nil {
		return c.fail(stderr, fmt.Errorf("read run %q: %w", runID, err))
	}
	if r.State.Terminal() {
		fmt.Fprintf(stderr, "Run %q (%s) left no captured output\n", runID, r.State)
	} else {
		fmt.Fprintf(stderr, "Run %q is %s: no output captured yet\n", runID, r.State)
	}
	return exitOK
}
