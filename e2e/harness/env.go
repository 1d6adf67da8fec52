// Package harness is jetcron's end-to-end harness: scenarios that run a real cluster
// (package cluster), put jobs through the real nats CLI, inject faults, and judge a
// ledger written by the jobs themselves together with jetcron's own run records.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

// Config is what every scenario shares.
type Config struct {
	Jetcron, NATSCLI string
	// Dir gets one folder per scenario (cluster logs, ledger).
	Dir string
	// Seed seeds each scenario's random source.
	Seed uint64
	// Soak is the length of the soak scenario.
	Soak time.Duration
	// Out gets progress lines and the tables.
	Out io.Writer
	// Verbose also prints the cluster's actions.
	Verbose bool
	// Insecure runs the clusters without authentication and TLS; by default they
	// run with both, as the README's secure walk-through deploys them.
	Insecure bool
}

// Scenario is one named run of the cluster under a fault.
type Scenario struct {
	Name string
	// What describes the fault and what must hold, for the report.
	What string
	// Hosts are the runner hosts' host names; default runner-1..3.
	Hosts []string
	// Netns puts the servers in network namespaces (needed by Partition).
	Netns bool
	// ServerYAML is appended to every server's config (cluster.Options.ServerYAML),
	// e.g. "http: {open_read: true}".
	ServerYAML string
	// Run drives the scenario; the cluster is healed and settled after it returns.
	Run func(ctx context.Context, e *Env) error
	// Settle bounds the wait for every run to end after Run; default 30s.
	Settle time.Duration
	// After, if set, adds the scenario's own checks on what the checker judged.
	After func(e *Env, in CheckInput)
}

// Env is what a scenario's Run works with.
type Env struct {
	C    *cluster.Cluster
	Book *Book
	Rand *rand.Rand
	Cfg  Config

	script, ledgerDir string
	watch             *watcher
	start             time.Time

	mu         sync.Mutex
	violations []string
	notes      []string
}

// Violate records a broken invariant found by the scenario itself.
func (e *Env) Violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.violations = append(e.violations, msg)
	e.mu.Unlock()
	e.Logf("VIOLATION: %s", msg)
}

// Note records a fact for the report (not a failure).
func (e *Env) Note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.notes = append(e.notes, msg)
	e.mu.Unlock()
	e.Logf("note: %s", msg)
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Cfg.Out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// fork is a new random source drawn from e.Rand, for a goroutine of its own: a
// rand.Rand is not safe for concurrent use, and each goroutine drawing from its own
// source keeps a seed's replay independent of how they interleave.
func (e *Env) fork() *rand.Rand { return rand.New(rand.NewPCG(e.Rand.Uint64(), e.Rand.Uint64())) }

// Sleep waits d or until ctx ends.
func (e *Env) Sleep(ctx context.Context, d time.Duration) error { return cluster.Sleep(ctx, d) }

// Execs reads the ledger as it is now.
func (e *Env) Execs() ([]*Exec, error) { return readLedger(e.ledgerDir) }

// WaitExec polls the ledger every 50 ms until an execution matches, or timeout
// (often enough for a nemesis to hit a 1 s execution early).
func (e *Env) WaitExec(ctx context.Context, timeout time.Duration, match func(*Exec) bool) (*Exec, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		es, err := e.Execs()
		if err != nil {
			return nil, err
		}
		for _, x := range es {
			if match(x) {
				return x, nil
			}
		}
		if err := e.Sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no matching execution in the ledger after %s", timeout)
}

// Leader returns the ticker leader, waiting for one up to 30s.
func (e *Env) Leader(ctx context.Context) (*cluster.Proc, error) {
	return e.C.WaitLeader(ctx, 30*time.Second)
}

// LedgerDir is where the jobs write their ledgers.
func (e *Env) LedgerDir() string { return e.ledgerDir }

// Script is the path of the ledger script.
func (e *Env) Script() string { return e.script }

// Report is a scenario's outcome.
type Report struct {
	Name       string
	What       string
	Took       time.Duration
	Result     *Result
	Notes      []string
	Violations []string // the checker's and the scenario's
	Err        error    // the scenario could not run to its end
	Dir        string
}

// Failed reports whether the scenario broke an invariant or could not run.
func (r *Report) Failed() bool { return r.Err != nil || len(r.Violations) > 0 }

// RunScenario starts a cluster, runs sc, heals and settles the cluster, and checks.
func RunScenario(ctx context.Context, cfg Config, sc Scenario) *Report {
	rep := &Report{Name: sc.Name, What: sc.What, Dir: filepath.Join(cfg.Dir, sc.Name)}
	t0 := time.Now()
	defer func() { rep.Took = time.Since(t0) }()
	if err := runScenario(ctx, cfg, sc, rep); err != nil {
		rep.Err = err
	}
	return rep
}

func runScenario(ctx context.Context, cfg Config, sc Scenario, rep *Report) error {
	dir := rep.Dir
	ledgerDir := filepath.Join(dir, "ledger")
	if err := os.MkdirAll(ledgerDir, 0o755); err != nil {
		return err
	}
	script := filepath.Join(dir, "ledger.sh")
	if err := os.WriteFile(script, []byte(ledgerScript), 0o755); err != nil {
		return err
	}
	hosts := sc.Hosts
	if hosts == nil {
		hosts = []string{"runner-1", "runner-2.example.com", "runner-3"}
	}
	var progress io.Writer
	if cfg.Verbose {
		progress = cfg.Out
	}
	seed := cfg.Seed ^ hash(sc.Name)
	e := &Env{Book: newBook(), Rand: rand.New(rand.NewPCG(seed, seed>>1|1)), Cfg: cfg, script: script, ledgerDir: ledgerDir}
	e.Logf("==== scenario %s: %s", sc.Name, sc.What)
	c, err := cluster.Start(ctx, cluster.Options{
		Jetcron: cfg.Jetcron, NATSCLI: cfg.NATSCLI, Dir: filepath.Join(dir, "cluster"),
		Hosts: hosts, Netns: sc.Netns, ServerYAML: sc.ServerYAML, Progress: progress, Secure: !cfg.Insecure,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	e.C = c
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := startWatcher(sctx, c)
	if err != nil {
		return err
	}
	defer w.Close()
	e.watch = w
	e.start = time.Now()

	runErr := sc.Run(sctx, e)
	end := time.Now()

	// Heal: partitions removed, everything the scenario stopped woken or started.
	healErr := c.Heal(ctx)
	for _, p := range c.All() {
		if p.Unexpected() {
			e.Violate("%s %s exited on its own: %s (log %s)", p.Role, p.Name, p.ExitStatus(), p.Log)
		}
		_ = p.Cont()
		if !p.Running() {
			if err := p.Start(); err != nil {
				healErr = errors.Join(healErr, err)
			}
		}
	}
	if err := c.WaitReady(ctx, 60*time.Second); err != nil {
		healErr = errors.Join(healErr, err)
	}
	settle := sc.Settle
	if settle == 0 {
		settle = 30 * time.Second
	}
	grace := 3 * time.Second
	final, settled, err := e.settle(ctx, end, grace, settle)
	if err != nil {
		return errors.Join(runErr, healErr, err)
	}
	execs, err := e.Execs()
	if err != nil {
		return err
	}
	e.checkDefinitions(ctx)
	for _, p := range c.All() {
		if p.Unexpected() {
			e.Violate("%s %s exited on its own: %s (log %s)", p.Role, p.Name, p.ExitStatus(), p.Log)
		}
	}
	in := CheckInput{
		Book: e.Book, Final: final, History: w.History(), Execs: execs,
		Start: e.start, End: end, Grace: grace, Settled: settled,
	}
	if sc.After != nil {
		sc.After(e, in)
	}
	res := Check(in)
	rep.Result = res
	if err := e.Book.WriteFile(filepath.Join(rep.Dir, "book.txt")); err != nil {
		e.Logf("job definitions not written: %v", err)
	}
	e.mu.Lock()
	rep.Notes = e.notes
	rep.Violations = append(append([]string(nil), e.violations...), res.Violations...)
	e.mu.Unlock()
	return errors.Join(runErr, healErr)
}

// settle waits until every run of a tick before end has ended (or settle passes) and
// returns the run records then.
func (e *Env) settle(ctx context.Context, end time.Time, grace, settle time.Duration) (map[string]Observed, time.Time, error) {
	deadline := time.Now().Add(settle)
	for {
		snap, err := e.watch.snapshot(ctx)
		if err == nil {
			pending := 0
			for _, o := range snap {
				if o.Run.Scheduled <= end.Unix() && !o.Run.State.Terminal() {
					pending++
				}
				if o.Run.State == "lost" && o.Run.Attempts < 1 && time.Since(end) < 10*time.Second {
					pending++ // a reschedule may come
				}
			}
			if pending == 0 || time.Now().After(deadline) {
				if pending > 0 {
					e.Logf("settle: %d runs still not ended after %s", pending, settle)
				}
				return snap, time.Now(), nil
			}
		} else if time.Now().After(deadline) {
			return nil, time.Time{}, err
		}
		if err := e.Sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, time.Time{}, err
		}
	}
}

// checkDefinitions reads every job key back with `nats kv get` and compares it with
// the newest acknowledged write (or any later write whose outcome is unknown).
func (e *Env) checkDefinitions(ctx context.Context) {
	for _, key := range e.Book.Keys() {
		defs := e.Book.Defs(key)
		var ok []*Def // acceptable outcomes: the newest acked write, and unknown later ones
		for _, d := range defs {
			if d.OK() {
				ok = []*Def{d}
			} else if len(ok) > 0 && !strings.Contains(d.Err.Error(), "invalid key") && !strings.Contains(d.Err.Error(), "maximum payload") {
				ok = append(ok, d)
			}
		}
		if len(ok) == 0 {
			continue
		}
		// A read that gets no answer (the cluster still electing leaders after the
		// last fault) is tried again; only an answer that differs is a loss.
		var out []byte
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err = e.C.NATS(cctx, "kv", "get", "jobs", key, "--raw")
			cancel()
			if err == nil || !strings.Contains(err.Error(), "deadline exceeded") && !strings.Contains(err.Error(), "no responders") {
				break
			}
			time.Sleep(2 * time.Second)
		}
		match := false
		for _, d := range ok {
			switch {
			case d.Deleted:
				match = match || err != nil && strings.Contains(err.Error(), "not found")
			default:
				match = match || err == nil && strings.TrimRight(string(out), "\n") == strings.TrimRight(d.Value, "\n")
			}
		}
		if !match {
			got := fmt.Sprintf("%q", truncate(string(out), 80))
			if err != nil {
				got = err.Error()
			}
			e.Violate("job %q: acknowledged definition not read back after healing: want %s, got %s", key, describe(ok[0]), got)
		}
	}
}

func describe(d *Def) string {
	if d.Deleted {
		return "deleted"
	}
	return fmt.Sprintf("%q", truncate(d.Value, 80))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func hash(s string) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// Print writes a report's table, notes and violations.
func (r *Report) Print(w io.Writer) {
	status := "PASS"
	if r.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(w, "\n=== %s  %s  (%s)\n    %s\n", status, r.Name, r.Took.Round(time.Second), r.What)
	if r.Result != nil && len(r.Result.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "job\tevery\toverlap\texpected\tlaunched\tlate>1s\tmax late\tmax start delay\tskipped\tduplicates\tlost\trelaunched\trestarted\tmissed\tlongest gap\tskip reasons\t")
		for _, row := range r.Result.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", row.Job, row.Every, yesNo(row.Overlap), row.Expected, row.Launched,
				row.Late, row.MaxLate.Round(100*time.Millisecond), row.MaxDelay.Round(100*time.Millisecond), row.Skipped, row.Duplicates, row.Lost, row.Relaunched, row.Restarted, row.Missing,
				row.LongestGap.Round(100*time.Millisecond), reasons(row.SkipReasons))
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "    note: %s\n", n)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "    ERROR: %v\n", r.Err)
	}
	const maxShown = 25
	for i, v := range r.Violations {
		if i == maxShown {
			fmt.Fprintf(w, "    ... and %d more violations\n", len(r.Violations)-maxShown)
			break
		}
		fmt.Fprintf(w, "    VIOLATION: %s\n", v)
	}
	if r.Failed() {
		fmt.Fprintf(w, "    logs and ledger: %s\n", r.Dir)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
