// Command bench measures jetcron on real processes (three servers with
// `sync_interval: always`, runner hosts in their own UTS namespaces, started with
// e2e/cluster) and prints every figure next to its floor measured in the same run, on
// the same cluster, as a ratio:
//
//	go run ./e2e/bench                       # full mode (~45 min on 2 cores)
//	go run ./e2e/bench -short                # quick check (~6 min)
//	go run ./e2e/bench -figures tick,burst   # some figures
//	go run ./e2e/bench -write                # and rewrite BENCHMARKS.md
//
// Figures: footprint, tick (tick → process start), failover (SIGKILL and SIGTERM of
// the lock holder, then the holder's CPUs kept busy: false failovers), burst (N jobs due in one second), durability (tick and burst again on a
// cluster with `sync_interval: 2m`), scale (100,000 hourly jobs), history (20,000
// hourly jobs with 7 days of run records: RSS, disk, restart → loaded), ui (the web
// UI's job list with 10,000 jobs, next to /v1/jobs). The logs, configs,
// ledgers and profiles of the run stay in the printed folder. The figures run
// sequentially (the machine is small and shared); each row records the load average.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

type env struct {
	ctx     context.Context
	short   bool
	verbose bool
	out     string // run folder
	repo    string
	jetcron string
	natsCLI string
	stamp   string
	profile bool

	ticks      int   // tick → start ticks
	ticksDur   int   // tick → start ticks on the 2m cluster
	bursts     []int // burst sizes
	burstsDur  []int
	kills      int           // failover kills (SIGKILL)
	stops      int           // failover clean stops (SIGTERM)
	loadFor    time.Duration // the holder under CPU load (false failovers); 0: not measured
	loadFactor int           // busy goroutines per CPU of the holder
	scaleJobs  int
	// historyJobs hourly jobs with historyDays of run records (history figure).
	historyJobs, historyDays int
	uiJobs                   int // jobs of the ui figure
	uiLoads                  int // loads of each page
	lockFloors               int // lock takeover floor samples

	rows    []row
	notes   []string
	kills_  []string // one line per failover kill
	maxPar  int
	started time.Time
}

func main() {
	if n, _ := strconv.Atoi(os.Getenv(burnEnv)); n > 0 {
		burn(n) // falseFailovers' CPU burner
	}
	short := flag.Bool("short", false, "quick check: fewer ticks, kills and a smaller burst")
	figs := flag.String("figures", "footprint,tick,burst,failover,durability,scale,history,ui", "comma-separated figures to measure")
	scaleJobs := flag.Int("scale-jobs", 0, "hourly jobs of the scale figure (default 100000, -short 5000)")
	historyJobs := flag.Int("history-jobs", 0, "hourly jobs of the history figure (default 20000: 100000 did not complete on a 2-core machine, BENCHMARKS.md; -short 5000)")
	historyDays := flag.Int("history-days", 7, "days of run history of the history figure")
	uiJobs := flag.Int("ui-jobs", 10000, "jobs of the ui figure")
	write := flag.Bool("write", false, "rewrite BENCHMARKS.md with the table of this run")
	verbose := flag.Bool("v", false, "print every cluster action")
	ticks := flag.Int("ticks", 0, "tick → start ticks (default 300, -short 30)")
	kills := flag.Int("kills", 0, "failover kills (default 20, -short 3)")
	stops := flag.Int("stops", 0, "failover clean stops, SIGTERM (default 10, -short 3)")
	flag.DurationVar(&lockTTL, "lock-ttl", lockTTL, "the servers' server.lock_ttl")
	loadFactor := flag.Int("load-factor", 1, "failover: busy goroutines per CPU of the lock holder")
	loadFor := flag.Duration("load", 60*time.Second, "failover: how long the lock holder's CPUs are kept busy (0: not measured)")
	bursts := flag.String("burst", "", "burst sizes, comma-separated (default 1000,10000; -short 250)")
	profile := flag.Bool("pprof", true, "save CPU profiles of the lock holder during tick and burst, and print their top")
	maxPar := flag.Int("max-parallel", 0, "set client.max_parallel on the runner hosts (default: the product's default)")
	out := flag.String("dir", "", "run folder (default a new temp dir)")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	e := &env{ctx: ctx, short: *short, verbose: *verbose, profile: *profile, started: time.Now(), maxPar: *maxPar}
	e.ticks, e.ticksDur, e.kills, e.stops, e.lockFloors = 300, 120, 20, 10, 10
	e.bursts, e.burstsDur = []int{1000, 10000}, []int{1000}
	e.scaleJobs, e.historyJobs, e.historyDays = 100000, 20000, *historyDays
	e.uiJobs, e.uiLoads = *uiJobs, 30
	if e.short {
		e.scaleJobs, e.historyJobs, e.uiLoads = 5000, 5000, 10
		e.ticks, e.ticksDur, e.kills, e.stops, e.lockFloors = 30, 20, 3, 3, 3
		e.bursts, e.burstsDur = []int{250}, []int{250}
	}
	if *ticks > 0 {
		e.ticks = *ticks
	}
	if *scaleJobs > 0 {
		e.scaleJobs = *scaleJobs
	}
	if *historyJobs > 0 {
		e.historyJobs = *historyJobs
	}
	if *kills > 0 {
		e.kills = *kills
	}
	if *stops > 0 {
		e.stops = *stops
	}
	e.loadFor, e.loadFactor = *loadFor, max(*loadFactor, 1)
	if *bursts != "" {
		e.bursts = nil
		for _, s := range strings.Split(*bursts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				fatal(fmt.Errorf("-burst: bad size %q", s))
			}
			e.bursts = append(e.bursts, n)
		}
	}
	want := map[string]bool{}
	for _, f := range strings.Split(*figs, ",") {
		want[strings.TrimSpace(f)] = true
	}
	if err := e.setup(*out); err != nil {
		fatal(err)
	}
	fmt.Printf("jetcron bench: run folder %s\n", e.out)
	if err := e.run(want); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		e.notes = append(e.notes, "run stopped early: "+err.Error())
	}
	fmt.Println()
	fmt.Print(e.table())
	for _, n := range e.notes {
		fmt.Println("note:", n)
	}
	if *write {
		path := filepath.Join(e.repo, "BENCHMARKS.md")
		if err := os.WriteFile(path, []byte(e.markdown()), 0o644); err != nil {
			fatal(err)
		}
		fmt.Println("wrote", path)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}

// setup builds jetcron, the nats CLI and the stamp job into the run folder.
func (e *env) setup(out string) error {
	repo, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	e.repo = repo
	if out == "" {
		if out, err = os.MkdirTemp("", "jetcron-bench-"); err != nil {
			return err
		}
	}
	e.out = out
	bin := filepath.Join(out, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if e.jetcron, e.natsCLI, err = cluster.Build(e.ctx, repo, bin); err != nil {
		return err
	}
	e.stamp = filepath.Join(bin, "stamp")
	cmd := exec.CommandContext(e.ctx, "go", "build", "-o", e.stamp, "./e2e/bench/stamp")
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build stamp: %w\n%s", err, b)
	}
	return nil
}

func (e *env) run(want map[string]bool) error {
	if want["footprint"] || want["tick"] || want["burst"] || want["failover"] {
		b, err := e.startCluster("always", "always")
		if err != nil {
			return err
		}
		defer b.close()
		if want["footprint"] {
			e.footprint(b)
		}
		if want["tick"] || want["failover"] {
			// The tick job keeps running: failover measures on it.
			if err := e.tickFigure(b, e.ticks, want["tick"]); err != nil {
				return fmt.Errorf("tick: %w", err)
			}
		}
		if want["failover"] {
			if err := e.failover(b); err != nil {
				e.fail(fmt.Errorf("failover: %w", err))
			}
		}
		if want["burst"] {
			e.bursts_(b, e.bursts)
		}
		b.close()
	}
	if want["durability"] {
		b, err := e.startCluster("2m", "2m")
		if err != nil {
			return err
		}
		defer b.close()
		if err := e.tickFigure(b, e.ticksDur, true); err != nil {
			return fmt.Errorf("durability tick: %w", err)
		}
		e.bursts_(b, e.burstsDur)
		b.close()
	}
	if want["scale"] {
		if err := e.scaleFigure(e.scaleJobs); err != nil {
			e.fail(fmt.Errorf("scale: %w", err))
		}
	}
	if want["history"] {
		if err := e.historyFigure(e.historyJobs, e.historyDays); err != nil {
			e.fail(fmt.Errorf("history: %w", err))
		}
	}
	if want["ui"] {
		if err := e.uiFigure(e.uiJobs, e.uiLoads); err != nil {
			e.fail(fmt.Errorf("ui: %w", err))
		}
	}
	return nil
}

// bursts_ measures bursts of each size in turn, and stops when the ticker stopped
// launching (the tick job no longer runs): the next ones would measure nothing.
func (e *env) bursts_(b *bc, sizes []int) {
	for _, n := range sizes {
		if err := e.burstFigure(b, n); err != nil {
			e.fail(fmt.Errorf("burst %d [sync %s]: %w", n, b.label, err))
		}
		if !e.tickAlive(b) {
			e.notes = append(e.notes, fmt.Sprintf("after the burst of %d [sync %s] the ticker launched nothing more (the `@every 1s` job stopped too): later bursts on this cluster are not measured", n, b.label))
			return
		}
	}
}

// fail records a figure that could not be measured; the run goes on.
func (e *env) fail(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	e.notes = append(e.notes, "not measured: "+err.Error())
}

func (e *env) logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
