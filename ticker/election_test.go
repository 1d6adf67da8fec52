package ticker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
)

// lockKV is a one-key KV bucket with NATS's lock semantics: revision-checked writes,
// delete markers, a watch, and expiry of a key whose newest write is older than the
// TTL plus lag (NATS's expiry timer). Clients cut off get no answer; clients deaf
// get none either, but their writes are made.
type lockKV struct {
	ttl, lag time.Duration
	mu       sync.Mutex
	seq      uint64
	op       jetstream.KeyValueOp // of the newest entry; none when seq == 0
	value    []byte               // of the newest entry
	written  time.Time            // of the newest entry
	expired  bool
	watchers []chan jetstream.KeyValueEntry
	cut      map[string]bool
	deaf     map[string]int // how many more updates of the client get no answer
	// slow delays the client's updates: each is written, and answered, that much
	// later, whether the client still waits for the answer or not (a commit that is
	// slow under load).
	slow map[string]time.Duration
	// writes lists every successful write: who, how, from which revision.
	writes []lockWrite
}

type lockWrite struct {
	client string
	kind   string // create, update, delete
	from   uint64
	rev    uint64
	at     time.Time
}

func newLockKV(ttl, lag time.Duration) *lockKV {
	return &lockKV{ttl: ttl, lag: lag, cut: map[string]bool{}, deaf: map[string]int{}, slow: map[string]time.Duration{}}
}

// present reports whether the key holds a value (not deleted, not expired). Lock held.
func (k *lockKV) present() bool {
	if k.seq != 0 && k.op == jetstream.KeyValuePut && !time.Now().Before(k.written.Add(k.ttl+k.lag)) {
		k.expired = true // the message is gone: the subject is empty
	}
	return k.seq != 0 && !k.expired && k.op == jetstream.KeyValuePut
}

// lastSeq is the subject's last sequence, as an expected-last-sequence check sees it.
func (k *lockKV) lastSeq() uint64 {
	k.present()
	if k.expired {
		return 0
	}
	return k.seq
}

// write appends an entry and sends it to every watcher. Lock held.
func (k *lockKV) write(client, kind string, from uint64, op jetstream.KeyValueOp, value []byte) uint64 {
	k.seq++
	k.op, k.value, k.written, k.expired = op, value, time.Now(), false
	k.writes = append(k.writes, lockWrite{client: client, kind: kind, from: from, rev: k.seq, at: k.written})
	for _, w := range k.watchers {
		w <- lockEntry{rev: k.seq, op: op}
	}
	return k.seq
}

// makeDeaf has the client's next n updates written without an answer.
func (k *lockKV) makeDeaf(client string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deaf[client] = n
}

// makeSlow has the client's updates written and answered d after they are made.
func (k *lockKV) makeSlow(client string, d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.slow[client] = d
}

func (k *lockKV) setCut(client string, cut bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut[client] = cut
}

func (k *lockKV) history() []lockWrite {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]lockWrite(nil), k.writes...)
}

// client is a connection of the named server to the bucket.
func (k *lockKV) client(name string) *lockClient { return &lockClient{k: k, name: name} }

type lockClient struct {
	jetstream.KeyValue // methods the election does not use: nil, they panic
	k                  *lockKV
	name               string
}

// lock takes the bucket's lock, or blocks until ctx ends if this client is cut off.
func (c *lockClient) lock(ctx context.Context) error {
	c.k.mu.Lock()
	if !c.k.cut[c.name] {
		return nil
	}
	c.k.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (c *lockClient) Create(ctx context.Context, _ string, value []byte, _ ...jetstream.KVCreateOpt) (uint64, error) {
	if err := c.lock(ctx); err != nil {
		return 0, err
	}
	defer c.k.mu.Unlock()
	if c.k.present() {
		return 0, jetstream.ErrKeyExists
	}
	return c.k.write(c.name, "create", 0, jetstream.KeyValuePut, value), nil
}

func (c *lockClient) Update(ctx context.Context, _ string, value []byte, rev uint64) (uint64, error) {
	c.k.mu.Lock()
	slow := c.k.slow[c.name]
	c.k.mu.Unlock()
	time.Sleep(slow)
	if err := c.lock(ctx); err != nil {
		return 0, err
	}
	if last := c.k.lastSeq(); last != rev {
		c.k.mu.Unlock()
		return 0, fmt.Errorf("wrong last sequence: %d: %w", last, jetstream.ErrKeyRevisionMismatch)
	}
	won := c.k.write(c.name, "update", rev, jetstream.KeyValuePut, value)
	deaf := c.k.deaf[c.name] > 0
	if deaf {
		c.k.deaf[c.name]--
	}
	c.k.mu.Unlock()
	if deaf {
		<-ctx.Done()
	}
	if err := ctx.Err(); err != nil {
		return 0, err // written, but the answer came too late
	}
	return won, nil
}

func (c *lockClient) Delete(ctx context.Context, _ string, _ ...jetstream.KVDeleteOpt) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.k.mu.Unlock()
	c.k.write(c.name, "delete", c.k.seq, jetstream.KeyValueDelete, nil)
	return nil
}

func (c *lockClient) Get(ctx context.Context, _ string) (jetstream.KeyValueEntry, error) {
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.k.mu.Unlock()
	switch {
	case c.k.present():
		return lockEntry{rev: c.k.seq, op: jetstream.KeyValuePut, value: c.k.value}, nil
	case c.k.seq != 0 && !c.k.expired:
		return nil, jetstream.ErrKeyDeleted
	default:
		return nil, jetstream.ErrKeyNotFound
	}
}

func (c *lockClient) Watch(ctx context.Context, _ string, _ ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	ch := make(chan jetstream.KeyValueEntry, 256)
	if c.k.present() || (c.k.seq != 0 && !c.k.expired) {
		ch <- lockEntry{rev: c.k.seq, op: c.k.op}
	}
	ch <- nil
	c.k.watchers = append(c.k.watchers, ch)
	w := &lockWatcher{k: c.k, ch: ch}
	go func() { <-ctx.Done(); _ = w.Stop() }()
	return w, nil
}

type lockWatcher struct {
	k    *lockKV
	ch   chan jetstream.KeyValueEntry
	once sync.Once
}

func (w *lockWatcher) Updates() <-chan jetstream.KeyValueEntry { return w.ch }

func (w *lockWatcher) Stop() error {
	w.once.Do(func() {
		w.k.mu.Lock()
		defer w.k.mu.Unlock()
		for i, ch := range w.k.watchers {
			if ch == w.ch {
				w.k.watchers = append(w.k.watchers[:i], w.k.watchers[i+1:]...)
				close(ch)
				break
			}
		}
	})
	return nil
}

type lockEntry struct {
	rev   uint64
	op    jetstream.KeyValueOp
	value []byte
}

func (lockEntry) Bucket() string                    { return "lock" }
func (lockEntry) Key() string                       { return "ticker" }
func (e lockEntry) Value() []byte                   { return e.value }
func (e lockEntry) Revision() uint64                { return e.rev }
func (lockEntry) Created() time.Time                { return time.Time{} }
func (lockEntry) Delta() uint64                     { return 0 }
func (e lockEntry) Operation() jetstream.KeyValueOp { return e.op }

// candidate is one server's election, watching and campaigning until stopped.
type candidate struct {
	e      *election
	cancel context.CancelFunc
	won    chan *lease
}

// startCandidate watches the lock as server name and campaigns; the lease it wins is
// kept (renewed) until the test ends or stop is called.
func startCandidate(ctx context.Context, kv *lockKV, name string, ttl time.Duration) *candidate {
	ctx, cancel := context.WithCancel(ctx)
	e := newElection(kv.client(name), name, ttl, clock.Real{}, zerolog.Nop())
	c := &candidate{e: e, cancel: cancel, won: make(chan *lease, 1)}
	go e.watch(ctx)
	go func() {
		l, err := e.campaign(ctx)
		if err != nil {
			return
		}
		c.won <- l
		l.keep(ctx)
	}()
	return c
}

const testTTL = 800 * time.Millisecond

// holderAndStandby starts server a, which wins the lock (held), then a standby b, on a
// bucket whose expiry lags 300 ms.
func holderAndStandby(ctx context.Context) (kv *lockKV, a *candidate, held *lease, b *candidate) {
	kv = newLockKV(testTTL, 300*time.Millisecond)
	a = startCandidate(ctx, kv, "a", testTTL)
	held = <-a.won
	return kv, a, held, startCandidate(ctx, kv, "b", testTTL)
}

func TestAStandbyTakesOverAReleasedLockOnItsDeleteMarkerWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, a, held, b := holderAndStandby(t.Context())
		time.Sleep(3 * testTTL) // b campaigns while a renews
		synctest.Wait()
		select {
		case <-b.won:
			t.Fatal("b took the lock while a renewed it")
		default:
		}
		held.release(t.Context())
		if held.Valid() {
			t.Fatal("a released lease is still valid")
		}
		a.cancel()
		// No time passes: b reacts to the marker, not to a timer of its own.
		synctest.Wait()
		select {
		case l := <-b.won:
			h := kv.history()
			last := h[len(h)-1]
			if last.client != "b" || last.kind != "update" || h[len(h)-2].kind != "delete" || last.from != h[len(h)-2].rev || l.Rev() != last.rev {
				t.Fatalf("b's takeover was not an update on the delete marker: %+v", h[len(h)-2:])
			}
		default:
			t.Fatal("b did not take the released lock at once")
		}
	})
}

func TestAStandbyTakesOverAHolderThatStoppedRenewingOnceItsLeaseRanOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, _, held, b := holderAndStandby(t.Context())
		time.Sleep(2*testTTL + testTTL/3)
		// a can no longer reach the bucket (a pause, a partition, a SIGKILL): its
		// renewals get no answer, and nothing of a is written from now on.
		kv.setCut("a", true)
		l := <-b.won
		h := kv.history()
		var lastOfA lockWrite
		for _, w := range h {
			if w.client == "a" {
				lastOfA = w
			}
		}
		took := h[len(h)-1]
		if took.client != "b" || took.kind != "update" || took.from != lastOfA.rev || l.Rev() != took.rev {
			t.Fatalf("b did not take over a's last revision with an update (before NATS expired it): %+v", h[len(h)-2:])
		}
		if took.at.Before(lastOfA.at.Add(testTTL)) {
			t.Fatalf("b took over at %s, less than the TTL after a's last write at %s", took.at, lastOfA.at)
		}
		if held.Valid() {
			t.Fatal("a still trusts its lease after b took the lock over")
		}
		kv.setCut("a", false)
		select {
		case <-held.Lost():
		case <-time.After(testTTL):
			t.Fatal("a did not learn that it lost the lock")
		}
	})
}

func TestAStandbyWithoutAWatchTakesTheLockOnceItExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv := newLockKV(testTTL, 300*time.Millisecond)
		a := startCandidate(t.Context(), kv, "a", testTTL)
		held := <-a.won
		time.Sleep(testTTL)
		kv.setCut("a", true)
		// b campaigns without a watch: it creates, and reads the lock when it cannot.
		e := newElection(kv.client("b"), "b", testTTL, clock.Real{}, zerolog.Nop())
		l, err := e.campaign(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if held.Valid() {
			t.Fatal("a still trusts its lease after b took the lock")
		}
		h := kv.history()
		if took := h[len(h)-1]; took.client != "b" || l.Rev() != took.rev {
			t.Fatalf("b's lease is not the lock's newest revision: %+v", took)
		}
	})
}

func TestOfManyStandbysExactlyOneTakesOverTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv := newLockKV(testTTL, 300*time.Millisecond)
		a := startCandidate(t.Context(), kv, "a", testTTL)
		<-a.won
		var cs []*candidate
		for _, n := range []string{"b", "c", "d", "e"} {
			cs = append(cs, startCandidate(t.Context(), kv, n, testTTL))
		}
		time.Sleep(testTTL)
		kv.setCut("a", true)
		time.Sleep(3 * testTTL)
		synctest.Wait()
		won := 0
		for _, c := range cs {
			select {
			case <-c.won:
				won++
			default:
			}
		}
		if won != 1 {
			t.Fatalf("%d standbys took the lock", won)
		}
	})
}

func TestAHolderWhoseRenewalWasWrittenWithoutAnAnswerKeepsTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, _, held, b := holderAndStandby(t.Context())
		time.Sleep(testTTL)
		// a's next renewal is written but its answer lost (a timeout under load):
		// its retry finds the lock at a revision that is a's own.
		kv.makeDeaf("a", 1)
		time.Sleep(3 * testTTL)
		synctest.Wait()
		checkKept(t, held, b, kv, "a stepped down over its own renewal")
		if !held.Valid() {
			t.Fatal("a's lease is not valid again after a renewal succeeded")
		}
		h := kv.history()
		for i, w := range h[1:] {
			if w.kind == "update" && w.from != h[i].rev {
				t.Fatalf("an update not checked on the revision before it: %+v", w)
			}
		}
	})
}

func TestAHolderWhoseRenewalsAreAnsweredSlowerThanItsRenewalIntervalKeepsTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, a, held, b := holderAndStandby(t.Context())
		// Each renewal of a lands and is answered 0.4 TTL after it was made (TTL/4 is
		// 0.25 TTL): a commit that is slow under load, not a holder that is gone. Two
		// such renewals fit in the lease's 0.9 TTL.
		kv.makeSlow("a", testTTL*40/100)
		time.Sleep(10 * testTTL)
		synctest.Wait()
		checkKept(t, held, b, kv, "a lost a lock it renewed every time, slowly")
		renewals := 0
		for _, w := range kv.history() {
			if w.client == "a" && w.kind == "update" {
				renewals++
			}
		}
		if renewals < 10 {
			t.Fatalf("a renewed %d times in 10 TTLs, want at least 10", renewals)
		}
		a.cancel()
		b.cancel()
		time.Sleep(testTTL) // a's last renewal ends: the bubble ends with no goroutine asleep
	})
}

// checkKept fails the test, saying lostWhy, if the holder's lease ended, or if the
// standby b won the lock from it.
func checkKept(t *testing.T, held *lease, b *candidate, kv *lockKV, lostWhy string) {
	t.Helper()
	select {
	case <-held.Lost():
		t.Fatal(lostWhy)
	case <-b.won:
		t.Fatalf("b took the lock from a holder that renews it: %+v", kv.history())
	default:
	}
}
