package runner

import (
	"errors"
	"testing"
	"time"
)

// A record that keeps reading at the revision a write expected is reported unchanged
// after a bounded wait (the write that timed out did not land: writeRun writes it
// again), while a record that moved on is returned; without a bound the read waits
// for a newer revision, as for a replica that lags.
func TestReadAfterSaysARecordThatDidNotMoveIsUnchanged(t *testing.T) {
	e := newEnv(t, 1)
	r, err := New(e.options(t, "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(r, "node-id")
	s.runs = e.b.Runs
	ctx := ctxT(t)
	rev, err := e.b.Runs.Put(ctx, "j.1", []byte(`{"state":"running"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.readAfter(ctx, "j.1", rev, 300*time.Millisecond); !errors.Is(err, errUnchanged) {
		t.Fatalf("read after revision %d of a record still there: %v, want errUnchanged", rev, err)
	}
	if _, err := s.landed(ctx, "j.1", []byte(`{"state":"complete"}`), rev); !errors.Is(err, errUnchanged) {
		t.Fatalf("landed with the record unchanged: %v, want errUnchanged", err)
	}
	next, err := e.b.Runs.Update(ctx, "j.1", []byte(`{"state":"complete"}`), rev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.landed(ctx, "j.1", []byte(`{"state":"complete"}`), rev)
	if err != nil || got != next {
		t.Fatalf("landed with the write there: %d, %v; want %d", got, err, next)
	}
	if _, err := s.landed(ctx, "j.1", []byte(`{"state":"failed"}`), rev); !errors.Is(err, errRecordMoved) {
		t.Fatalf("landed with another write there: %v, want errRecordMoved", err)
	}
}
