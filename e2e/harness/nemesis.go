package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

// fault is one kind of fault the nemesis injects.
type fault int

const (
	faultLeaderKill fault = iota
	faultLeaderPause
	faultServerKill
	faultPartition
	faultRunnerKill
	faultRunnerPause
	faultClusterRestart
)

func (f fault) String() string {
	return [...]string{"leader-kill", "leader-pause", "server-kill", "partition", "runner-kill", "runner-pause", "cluster-restart"}[f]
}

// nemesis injects faults one at a time, with a pause drawn from [minGap, maxGap)
// before each, until ctx ends. It deals them like shuffled decks: the first deck holds
// each kind of faults once, so every kind comes within the first kinds faults, also
// in a short soak; each later deck is faults itself (repeat one to weigh it). With
// everyKind, not injecting one of the kinds is a violation. Every fault is undone
// before the next; RunScenario undoes one cut short.
func (e *Env) nemesis(ctx context.Context, r *rand.Rand, faults []fault, minGap, maxGap time.Duration, everyKind bool) error {
	d := newDealer(faults, r)
	counts := map[fault]int{}
	defer func() {
		if len(counts) > 0 {
			e.Note("nemesis injected %v", counts)
		}
		for _, f := range kinds(faults) {
			if everyKind && counts[f] == 0 {
				e.Violate("the nemesis never injected %s: the soak was too short to try every fault", f)
			}
		}
	}()
	for {
		if err := e.Sleep(ctx, between(r, minGap, maxGap)); err != nil {
			return nil
		}
		f := d.next(r)
		counts[f]++
		if err := e.inject(ctx, r, f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("inject %s: %w", f, err)
		}
	}
}

// dealer deals faults like shuffled decks: first one of each kind, then faults
// again and again.
type dealer struct{ faults, deck []fault }

func newDealer(faults []fault, r *rand.Rand) *dealer {
	d := &dealer{faults: faults, deck: kinds(faults)}
	r.Shuffle(len(d.deck), func(i, j int) { d.deck[i], d.deck[j] = d.deck[j], d.deck[i] })
	return d
}

func (d *dealer) next(r *rand.Rand) fault {
	if len(d.deck) == 0 {
		d.deck = append(d.deck, d.faults...)
		r.Shuffle(len(d.deck), func(i, j int) { d.deck[i], d.deck[j] = d.deck[j], d.deck[i] })
	}
	f := d.deck[0]
	d.deck = d.deck[1:]
	return f
}

// kinds is faults without repeats, in order of first appearance.
func kinds(faults []fault) []fault {
	var out []fault
	seen := map[fault]bool{}
	for _, f := range faults {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// between is a random duration in [lo, hi).
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// inject applies f, and undoes it, drawing what it hits from r.
func (e *Env) inject(ctx context.Context, r *rand.Rand, f fault) error {
	pick := func(ps []*cluster.Proc) *cluster.Proc { return ps[r.IntN(len(ps))] }
	leader := func() (*cluster.Proc, error) {
		l, err := e.C.WaitLeader(ctx, 20*time.Second)
		if err != nil {
			// No leader visible: hit any server instead, and note it.
			e.Logf("nemesis: %v; picking a random server", err)
			return pick(e.C.Servers()), nil
		}
		return l, nil
	}
	ignoreCancel := func(err error) error {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	e.Logf("nemesis: %s", f)
	switch f {
	case faultLeaderKill, faultServerKill:
		p := pick(e.C.Servers())
		if f == faultLeaderKill {
			l, err := leader()
			if err != nil {
				return err
			}
			p = l
		}
		if err := p.Kill(); err != nil {
			return err
		}
		if err := e.Sleep(ctx, between(r, 2*time.Second, 6*time.Second)); err != nil {
			return nil
		}
		return p.Start()
	case faultLeaderPause:
		l, err := leader()
		if err != nil {
			return err
		}
		if err := l.Stop(); err != nil {
			return err
		}
		err = e.Sleep(ctx, between(r, 1*time.Second, 8*time.Second))
		if cerr := l.Cont(); cerr != nil {
			return cerr
		}
		return ignoreCancel(err)
	case faultPartition:
		if e.C.PartitionTool() == "" {
			return nil
		}
		p := pick(e.C.Servers())
		if r.IntN(2) == 0 {
			l, err := leader()
			if err != nil {
				return err
			}
			p = l
		}
		if err := e.C.Partition(ctx, p, r.IntN(2) == 0); err != nil {
			return err
		}
		err := e.Sleep(ctx, between(r, 3*time.Second, 12*time.Second))
		if herr := e.C.Heal(context.Background()); herr != nil {
			return herr
		}
		return ignoreCancel(err)
	case faultRunnerKill:
		h := pick(e.C.Hosts())
		if err := h.Kill(); err != nil {
			return err
		}
		if err := e.Sleep(ctx, between(r, 1*time.Second, 6*time.Second)); err != nil {
			return nil
		}
		return h.Start()
	case faultRunnerPause:
		h := pick(e.C.Hosts())
		if err := h.Stop(); err != nil {
			return err
		}
		err := e.Sleep(ctx, between(r, 500*time.Millisecond, 7*time.Second))
		if cerr := h.Cont(); cerr != nil {
			return cerr
		}
		return ignoreCancel(err)
	case faultClusterRestart:
		for _, p := range e.C.All() {
			if err := p.Kill(); err != nil {
				return err
			}
		}
		if err := e.Sleep(ctx, between(r, 2*time.Second, 12*time.Second)); err != nil {
			return nil
		}
		for _, p := range e.C.All() {
			if err := p.Start(); err != nil {
				return err
			}
		}
		return ignoreCancel(e.C.WaitReady(ctx, 60*time.Second))
	}
	return nil
}

// Soak runs the background jobs, a 30s job and job churn for d under a random
// schedule of every fault. Without network namespaces it fails at once: a soak
// without partitions would pass without the fault that found the most.
func Soak(d time.Duration, netnsErr error) Scenario {
	faults := []fault{
		faultLeaderKill, faultLeaderKill, faultLeaderPause, faultLeaderPause, faultServerKill,
		faultRunnerKill, faultRunnerKill, faultRunnerPause, faultRunnerPause, faultClusterRestart,
		faultPartition, faultPartition, faultPartition,
	}
	return Scenario{
		Name:   "soak",
		What:   fmt.Sprintf("%s of random faults (%v) while jobs run and churn", d, faults),
		Hosts:  []string{"runner-1", "runner-2.example.com", "runner-3", "runner-4"},
		Netns:  netnsErr == nil,
		Settle: 60 * time.Second,
		Run: func(ctx context.Context, e *Env) error {
			if netnsErr != nil {
				return fmt.Errorf("network namespaces unavailable, so no partitions could be injected: %w", netnsErr)
			}
			if err := putBackground(ctx, e); err != nil {
				return err
			}
			long := longJob(30)
			long.Every = 10 * time.Second
			if err := e.PutJob(ctx, "long-30s", long); err != nil {
				return err
			}
			deadline := time.Now().Add(d)
			nctx, stop := context.WithDeadline(ctx, deadline)
			defer stop()
			done := make(chan error, 1)
			maxGap := 10 * time.Second
			if d < 10*time.Minute {
				maxGap = 5 * time.Second // a short soak still deals every fault
			}
			r := e.fork()
			go func() { done <- e.nemesis(nctx, r, faults, 2*time.Second, maxGap, true) }()
			err := e.churn(nctx, deadline, 6)
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil
			}
			return errors.Join(err, <-done)
		},
	}
}
