package runner

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/subjects"
)

// A run printing far more than the live rate allows: what is published live stays
// within the burst and the rate over the run's time, and notes say how many bytes
// were dropped: the two add up to what it printed.
func TestLiveOutputOfAFloodStaysWithinTheRateAndSaysWhatItDropped(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	msgs := make(chan *nats.Msg, 100_000)
	sub, err := e.nc.ChanSubscribe(subjects.OutputSubject(subjects.RunKey("flood", tick(1))), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	line := strings.Repeat("0123456789", 10)
	const lines = 20_000
	printed := int64(lines * (len(line) + 1))

	start := time.Now()
	l := e.launch(t, opts.Name, "flood", tick(1), rawTask(script(t, "yes "+line+" | head -n "+strconv.Itoa(lines)+"\n")))
	e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	elapsed := time.Since(start)
	// The runner publishes before it records the end, on one connection; the record
	// was read on the subscription's connection: every message is in by now.
	var sent, dropped int64
	var notes []string
	for len(msgs) > 0 {
		m := <-msgs
		if d := m.Header.Get(subjects.OutputDroppedHeader); d != "" {
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil {
				t.Fatalf("dropped header %q", d)
			}
			dropped += n
			notes = append(notes, string(m.Data))
			continue
		}
		sent += int64(len(m.Data))
	}
	if bound := liveBurst + int64(liveRate*elapsed.Seconds()); sent > bound {
		t.Errorf("%d bytes published live in %s, over the bound %d", sent, elapsed, bound)
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "of output not sent live") {
		t.Errorf("notes %q, want one that says what was dropped", notes)
	}
	if sent+dropped != printed {
		t.Errorf("%d bytes sent and %d said dropped, want the %d printed", sent, dropped, printed)
	}
}
