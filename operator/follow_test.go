package operator

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/subjects"
)

// A line the runner publishes while FollowRun reads the stored output is not lost:
// FollowRun subscribed to the live lines before it read anything stored.
func TestFollowRunSubscribesBeforeItReadsTheStoredOutput(t *testing.T) {
	cl, b := newTestClient(t)
	ctx := testCtx(t)
	at := time.Unix(3600, 0)
	key := subjects.RunKey("backup", at)
	run, err := json.Marshal(subjects.Run{ID: subjects.RunID("backup", at), Job: "backup", Scheduled: 3600, State: subjects.StateRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Runs.Put(ctx, key, run); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Logs.Put(ctx, key, []byte("stored\n")); err != nil {
		t.Fatal(err)
	}
	published := false
	cl.afterOutputRead = func() {
		if published {
			return
		}
		published = true
		// What a runner does: a core publish, with the line's offset in the stream.
		m := nats.NewMsg(subjects.OutputSubject(key))
		m.Header.Set(subjects.OutputOffsetHeader, "7")
		m.Data = []byte("live\n")
		if err := cl.Conn().PublishMsg(m); err != nil {
			t.Error(err)
		}
	}
	seen := errors.New("seen")
	err = cl.FollowRun(ctx, subjects.RunID("backup", at), func(o RunOutput) error {
		if strings.Contains(o.Output, "live\n") {
			if o.Output != "stored\nlive\n" {
				t.Errorf("output %q, want the live line after the stored tail", o.Output)
			}
			return seen
		}
		return nil
	})
	if !errors.Is(err, seen) {
		t.Fatalf("follow: %v; the line published while the stored output was read never came", err)
	}
}
