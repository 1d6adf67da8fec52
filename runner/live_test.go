package runner

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

func TestAdmitSendsWhatFitsAndWholeLinesOnceOverTheRoom(t *testing.T) {
	dropping, mid := liveState{dropping: true}, liveState{dropping: true, midLine: true}
	for _, tc := range []struct {
		name       string
		p          string
		room       int
		st         liveState
		skip, keep int
		next       liveState
	}{
		{"what fits goes, partial line included", "a\nb", 3, liveState{}, 0, 3, liveState{}},
		{"over the room: the whole lines that fit", "a\nbc\nd\n", 5, liveState{}, 0, 5, dropping},
		{"over the room mid-line: the rest of that line is dropped too", "a\nbcd", 3, liveState{}, 0, 2, mid},
		{"no whole line fits: nothing goes", "abcdef\n", 3, liveState{}, 0, 0, dropping},
		{"dropping below the resume room: nothing goes", "a\n", liveResume - 1, dropping, 2, 0, dropping},
		{"dropping below the resume room, mid-line", "a\nb", liveResume - 1, dropping, 3, 0, mid},
		{"room again: lines go", "a\nb", liveResume, dropping, 0, 3, liveState{}},
		{"room again mid-line: the dropped line's rest is skipped", "ab\ncd\n", liveResume, mid, 3, 3, liveState{}},
		{"room again mid-line without its end: still skipped", "abc", liveResume, mid, 3, 0, mid},
		{"nothing written changes nothing", "", 0, mid, 0, 0, mid},
	} {
		skip, keep, next := admit([]byte(tc.p), tc.room, tc.st)
		if skip != tc.skip || keep != tc.keep || next != tc.next {
			t.Errorf("%s: skip %d keep %d next %+v, want %d %d %+v", tc.name, skip, keep, next, tc.skip, tc.keep, tc.next)
		}
	}
}

func TestAllowanceFillsAtTheRateUpToTheBurst(t *testing.T) {
	var a allowance
	t0 := time.Unix(1000, 0)
	if got := a.room(t0); got != liveBurst {
		t.Fatalf("a new allowance holds %d, want the burst %d", got, liveBurst)
	}
	a.spend(liveBurst)
	if got := a.room(t0.Add(-time.Second)); got != 0 {
		t.Errorf("a clock that went back filled it to %d", got)
	}
	if got := a.room(t0.Add(250 * time.Millisecond)); got != liveRate/4 {
		t.Errorf("after 250ms: %d, want %d", got, liveRate/4)
	}
	if got := a.room(t0.Add(time.Hour)); got != liveBurst {
		t.Errorf("after an hour: %d, want the burst %d", got, liveBurst)
	}
}

// published collects a live writer's messages.
type published struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (p *published) publish(m *nats.Msg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

func (p *published) all() []*nats.Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*nats.Msg(nil), p.msgs...)
}

// checkStream checks that every data message holds the stream's bytes at its offset,
// and returns the data bytes, the bytes the notes say were dropped, and the notes.
func checkStream(t *testing.T, stream []byte, msgs []*nats.Msg) (sent, dropped int64, notes []string) {
	t.Helper()
	for _, m := range msgs {
		off, err := strconv.ParseInt(m.Header.Get(subjects.OutputOffsetHeader), 10, 64)
		if err != nil {
			t.Fatalf("message without an offset: %v", m.Header)
		}
		if d := m.Header.Get(subjects.OutputDroppedHeader); d != "" {
			n, _ := strconv.ParseInt(d, 10, 64)
			dropped += n
			notes = append(notes, string(m.Data))
			continue
		}
		if !bytes.Equal(m.Data, stream[off:off+int64(len(m.Data))]) {
			t.Fatalf("data at %d is not the stream's", off)
		}
		sent += int64(len(m.Data))
	}
	return sent, dropped, notes
}

// A run printing within the rate has every line published, the first at once, the
// rest in batches; nothing is dropped.
func TestLiveOutputWithinTheRateIsAllPublishedInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p published
		l := startLive("jetcron.output.j.1", p.publish, clock.Real{}, zerolog.Nop())
		var stream []byte
		write := func(s string) {
			stream = append(stream, s...)
			l.Write([]byte(s))
		}
		write("first\n")
		synctest.Wait()
		if msgs := p.all(); len(msgs) != 1 || string(msgs[0].Data) != "first\n" {
			t.Errorf("after the first line: %d messages, want it alone at once", len(msgs))
		}
		for i := range 100 {
			write(fmt.Sprintf("line %d\n", i))
			time.Sleep(10 * time.Millisecond)
		}
		l.close()
		msgs := p.all()
		sent, dropped, _ := checkStream(t, stream, msgs)
		if sent != int64(len(stream)) || dropped != 0 {
			t.Errorf("sent %d of %d bytes, %d dropped", sent, len(stream), dropped)
		}
		// One second of lines, flushed every liveFlushInterval.
		if len(msgs) > 1+int(time.Second/liveFlushInterval)+1 {
			t.Errorf("%d messages for a second of lines, want batches", len(msgs))
		}
	})
}

// A run printing faster than the rate has its burst published, the rest dropped,
// and notes that say how much; once the rate allows again, its lines go out.
func TestLiveOutputOverTheRateIsDroppedWithANote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p published
		l := startLive("jetcron.output.j.1", p.publish, clock.Real{}, zerolog.Nop())
		var stream []byte
		write := func(b []byte) {
			stream = append(stream, b...)
			l.Write(b)
		}
		line := []byte(strings.Repeat("x", 99) + "\n")
		for range 10_000 { // 1 MB at once
			write(line)
		}
		l.flush()
		burst := len(p.all())
		time.Sleep(time.Second)
		write([]byte("after\n"))
		l.close()

		msgs := p.all()
		sent, dropped, notes := checkStream(t, stream[:len(stream)-len("after\n")], msgs[:burst])
		if sent > liveBurst || sent+dropped != int64(len(stream)-len("after\n")) {
			t.Errorf("sent %d (burst %d), dropped %d, of %d", sent, liveBurst, dropped, len(stream))
		}
		if len(notes) == 0 {
			t.Error("nothing says what was dropped")
		}
		for _, m := range msgs[:burst] {
			if d := m.Header.Get(subjects.OutputDroppedHeader); d != "" {
				n, _ := strconv.ParseInt(d, 10, 64)
				if want := subjects.DroppedNote(n, n/100, liveRate); string(m.Data) != want {
					t.Errorf("note %q, want %q", m.Data, want)
				}
			}
		}
		if last := msgs[len(msgs)-1]; len(msgs) != burst+1 || string(last.Data) != "after\n" {
			t.Errorf("after a second: %d messages, the last %q; want the line printed once the rate allowed it", len(msgs)-burst, last.Data)
		}
		checkStream(t, stream, msgs)
	})
}
