package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

func (e *env) table() string {
	var b strings.Builder
	b.WriteString("| figure | jetcron | floor (same run) | ratio | target | | load (1 min) |\n|---|---|---|---|---|---|---|\n")
	for _, r := range e.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Figure, r.Value, r.Floor, r.Ratio, r.Target, r.Met, r.Load)
	}
	return b.String()
}

// machine describes the machine, Go and NATS versions.
func (e *env) machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s*(\d+) kB`).FindSubmatch(b); m != nil {
			var kb float64
			fmt.Sscan(string(m[1]), &kb)
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	natsServer, natsGo := "?", "?"
	if b, err := os.ReadFile(filepath.Join(e.repo, "go.mod")); err == nil {
		if m := regexp.MustCompile(`nats-io/nats-server/v2 (v\S+)`).FindSubmatch(b); m != nil {
			natsServer = string(m[1])
		}
		if m := regexp.MustCompile(`nats-io/nats.go (v\S+)`).FindSubmatch(b); m != nil {
			natsGo = string(m[1])
		}
	}
	return fmt.Sprintf("%d cores (%s), %s memory, Linux %s, %s, nats-server %s (embedded), nats.go %s",
		runtime.NumCPU(), cpu, mem, kernel, runtime.Version(), natsServer, natsGo)
}

func (e *env) markdown() string {
	mode := "full"
	if e.short {
		mode = "short (`-short`)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# jetcron benchmarks

Every figure is measured on real processes next to its floor, measured in the same run
on the same cluster, and reported as a ratio: absolute times mean little on a shared
machine. Reproduce with:

`+"```sh\ngo tool -modfile=tools/go.mod task bench          # full mode, then rewrites this file\ngo tool -modfile=tools/go.mod task bench -- -short # quick check (~4 min), also rewrites this file\n```"+`

## Machine

%s. The machine was shared with other test runs: the 1-minute load average at the
end of each measurement is in the last column.

Run of %s, %s mode, %s.

## Results

%s
%s
## Method

`, e.machine(), e.started.UTC().Format("2006-01-02 15:04 MST"), mode, time.Since(e.started).Round(time.Second), e.table(), e.notesMD())
	b.WriteString(strings.ReplaceAll(method, "{lock_ttl}", lockTTL.String()))
	return b.String()
}

func (e *env) notesMD() string {
	var b strings.Builder
	if e.maxPar > 0 {
		fmt.Fprintf(&b, "Runner hosts ran with `client.max_parallel: %d` (`-max-parallel`).\n\n", e.maxPar)
	}
	if len(e.kills_) > 0 {
		b.WriteString("Failover, kill by kill (what the killed server led just before the kill):\n\n")
		for _, k := range e.kills_ {
			fmt.Fprintf(&b, "- %s\n", k)
		}
		b.WriteString("\n")
	}
	for _, n := range e.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String() + "\n"
}

const method = `The benchmark is a program, ` + "`e2e/bench`" + `. It builds the ` + "`jetcron`" + ` binary, the pinned
` + "`nats`" + ` CLI and ` + "`stamp`" + ` (a tiny Go program, the job of every benchmark, that appends
` + "`$JETCRON_RUN_ID $JETCRON_SCHEDULED <Unix ns at its start>`" + ` to a file), and starts clusters
with ` + "`e2e/cluster`" + `: three server agents (R3 buckets and stream, ` + "`sync_interval: always`" + `,
` + "`lock_ttl: {lock_ttl}`" + `, log level INFO, ` + "`enable_debug`" + ` for pprof) and three runner hosts, each in
its own UTS namespace with its own host name (` + "`client.max_parallel`" + ` default, 64). Every
client of the benchmark talks to the servers over loopback.

- **tick → start**: the job ` + "`tick`" + ` (` + "`@every 1s`" + `, runs ` + "`stamp`" + `); start − tick for every tick of the
  window, from stamp's own clock reading. Missed and doubled ticks are counted from the
  same file. *Placed* and *claimed* are the run record's ` + "`allocations[0].created`" + ` and
  ` + "`started`" + ` minus the tick: the ticker's and the runner's share. **Floor**, on the same
  cluster at the same time (at each half second, between jetcron's ticks): the bench
  publishes to an R3 stream, a pull consumer's callback does an R3 ` + "`kv.Create`" + ` and spawns
  ` + "`stamp`" + `, then acks; floor = stamp's start − the half second.
- **burst**: N = 1,000 and 10,000 (1,000 on the durability cluster; others with ` + "`-burst 250,1000`" + `) jobs whose 7-field cron names one second T (stored with async
  publishes, then the bench waits until the ticker has written every job's state); start
  − T per run, each run counted once (none twice), placed/claimed from the run records.
  **Floor**: the bench spawns the same N ` + "`stamp`" + ` processes itself, in a loop, at another
  whole second. A CPU profile of the lock holder is taken during the burst.
- **failover**: SIGKILL of the server named in the ` + "`jetcron-lock`" + ` key ` + "`ticker`" + `, at a random
  phase, once the cluster is ready and every replica of jetcron's streams and the
  runners' consumers is current again (then 3–4 s more); it is restarted 4 s after the kill. Kill →
  the first stamp start after the kill (of a tick due after the kill, or > 200 ms after it), and
  kill → the lock key naming another server (read every 20 ms). Then SIGTERM of the holder (a clean
  stop: it releases the lock) the same way: SIGTERM → the lock naming another server, and the
  latest tick → start of the ticks due from 1 s before to 3 s after the SIGTERM. Late = a tick that
  started > 1 s after it was due; missed/doubled ticks over the whole window. **Floor**: a KV bucket
  with the same TTL ({lock_ttl}) on the same cluster: a holder creates the key, renews it every TTL/4
  with a revision-checked update, stops at a random phase; a contender tries ` + "`Create`" + ` every
  50 ms; floor = stop → the contender's create succeeds (NATS's own expiry, which lags the TTL).
- **false failovers**: the lock holder's CPUs (its ` + "`Cpus_allowed_list`" + `) kept 100% busy for
  60 s by another process pinned to them with ` + "`taskset`" + `, one busy thread per CPU
  (` + "`-load-factor`" + ` for more): lock changes seen on a watch of the lock key, the servers'
  log lines of failed renewals and lost or won terms, the longest gap between two renewals, and
  the tick job's late, missed and doubled ticks meanwhile. Target: no lock change.
- **footprint**: VmRSS (` + "`/proc/PID/status`" + `) of every agent after 5 s idle (no jobs), the
  binary's size, a fresh cluster's start → ready (every server alive with a ticker
  leader, every host ready, as ` + "`jetcron server members`" + ` and ` + "`node status`" + ` show it), and a killed
  server's restart → alive. No floor.
- **durability cost**: tick → start and burst again on a fresh cluster with
  ` + "`server.sync_interval: 2m`" + ` (NATS's default); the floors are measured on that cluster too.
- **scale**: a fresh cluster, the ` + "`@every 1s`" + ` job, and 100,000 hourly jobs (7-field cron) spread
  over the 50 minutes of the hour that exclude the next ten, so that none fires while it
  measures: every server's VmRSS once the ticker wrote all their job states; the lock
  holder's CPU (utime + stime from ` + "`/proc/PID/stat`" + `, the whole agent: NATS server and
  ticker) over 30 s, with the ticker's share from a CPU profile of the same 30 s; then a
  SIGKILL of the holder, and the time from the lock changing hands to the next launch.
  A heap profile of the holder is printed.
- **ui**: a fresh cluster and 10,000 jobs (` + "`-ui-jobs`" + `) whose first cron names one second (every
  tenth job runs ` + "`/bin/false`" + `, the rest ` + "`/bin/true`" + `) and whose second is daily, 12 hours away:
  each has a real last result and a next launch. Once every job has its last result, one
  server's ` + "`/ui/`" + ` (the first page of 100) and ` + "`/ui/?status=failed`" + ` (a filter that reads every
  job's last result) are fetched 30 times each (10 with ` + "`-short`" + `), request → last byte, with the
  server's read and render times from the page's ` + "`Server-Timing`" + ` header. **Floor**: ` + "`/v1/jobs`" + ` from
  the same server, every job as JSON (the same reads, every last result), fetched between them.

Percentiles are nearest-rank. The run folder (printed first) keeps every agent's log,
the ledgers and the CPU profiles (` + "`*.pprof`" + `, read with ` + "`go tool pprof -top bin/jetcron FILE`" + `).
`
