package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// hosts are the runner hosts of every benchmark cluster.
var hosts = []string{"bench-1", "bench-2", "bench-3"}

// bc is a benchmark cluster: the processes and a client connection to them.
type bc struct {
	c     *cluster.Cluster
	nc    *nats.Conn
	js    jetstream.JetStream
	jobs  jetstream.KeyValue
	runs  jetstream.KeyValue
	lock  jetstream.KeyValue
	dir   string
	label string // "always" or "2m": the servers' sync_interval
	ready time.Duration
}

func (e *env) startCluster(label, sync string) (*bc, error) {
	dir := filepath.Join(e.out, "cluster-"+label)
	serverYAML := "enable_debug: true\n"
	if sync != "always" {
		serverYAML += "server: {sync_interval: " + sync + "}\n"
	}
	opts := cluster.Options{
		Jetcron: e.jetcron, NATSCLI: e.natsCLI, Dir: dir, Hosts: hosts,
		LogLevel: "INFO", ServerYAML: serverYAML, LockTTL: lockTTL,
	}
	if e.maxPar > 0 {
		opts.ClientYAML = fmt.Sprintf("client: {max_parallel: %d}\n", e.maxPar)
	}
	if e.verbose {
		opts.Progress = os.Stdout
	}
	e.logf("starting cluster %q: 3 servers (sync_interval %s), runner hosts %v", label, sync, hosts)
	t0 := time.Now()
	c, err := cluster.Start(e.ctx, opts)
	if err != nil {
		return nil, err
	}
	b := &bc{c: c, dir: dir, label: label, ready: time.Since(t0)}
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.Close()
		return nil, err
	}
	b.nc = nc
	// An asynchronous publish that a stream electing a leader never answers fails
	// after 10 s, so that publishMany can publish its batch again.
	if b.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second)); err != nil {
		b.close()
		return nil, err
	}
	for _, x := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{subjects.JobsBucket, &b.jobs}, {subjects.RunStateBucket, &b.runs}, {subjects.LockBucket, &b.lock}} {
		if *x.kv, err = b.js.KeyValue(e.ctx, x.name); err != nil {
			b.close()
			return nil, err
		}
	}
	e.logf("cluster %q ready in %s", label, b.ready.Round(time.Millisecond))
	return b, nil
}

func (b *bc) close() {
	if b.nc != nil {
		b.nc.Close()
	}
	b.c.Close()
}

// holder returns the server whose ticker holds the lock, read from the lock key.
func (b *bc) holder(ctx context.Context) (*cluster.Proc, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ent, err := b.lock.Get(ctx, subjects.LockKey)
	if err != nil {
		return nil, err
	}
	var l subjects.Lock
	if err := json.Unmarshal(ent.Value(), &l); err != nil {
		return nil, err
	}
	p := b.c.Proc(l.Holder)
	if p == nil {
		return nil, fmt.Errorf("lock holder %q is not a server of the cluster", l.Holder)
	}
	return p, nil
}

// httpPort reads a server's monitoring port from its config.
func httpPort(p *cluster.Proc) (int, error) {
	cfg, err := os.ReadFile(filepath.Join(p.Dir, "agent.yaml"))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`http: (\d+)`).FindSubmatch(cfg)
	if m == nil {
		return 0, errors.New("no http port in " + p.Name + "'s config")
	}
	return strconv.Atoi(string(m[1]))
}

// cpuProfile fetches a CPU profile of the server p for d into path; done gets the
// error.
func cpuProfile(p *cluster.Proc, d time.Duration, path string) <-chan error {
	return fetchProfile(p, fmt.Sprintf("profile?seconds=%d", max(1, int(d/time.Second))), path)
}

// fetchProfile fetches /debug/pprof/<what> of the server p into path.
func fetchProfile(p *cluster.Proc, what, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		port, err := httpPort(p)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/debug/pprof/%s", p.Addr, port, what))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			done <- fmt.Errorf("pprof: %s", resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		f.Close()
		done <- err
	}()
	return done
}

// pprofTop is the top of a CPU profile, as `go tool pprof -top` prints it.
func (e *env) pprofTop(bin, path string, n int) string {
	return e.pprofTopArgs(bin, path, "-nodecount="+strconv.Itoa(n))
}

func (e *env) pprofTopArgs(bin, path string, args ...string) string {
	cmd := exec.CommandContext(e.ctx, "go", append(append([]string{"tool", "pprof", "-top"}, args...), bin, path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(pprof: %v: %s)", err, out)
	}
	return string(out)
}

// jobYAML is a job that runs the stamp program, appending to ledger.
func (e *env) jobYAML(cron, ledger string) string {
	return fmt.Sprintf(`datacenters: [dc1]
type: batch
periodic:
  cron: %q
task:
  driver: raw_exec
  config:
    command: %s
    args: [%q]
`, cron, e.stamp, ledger)
}

// stampLine is one line the stamp program wrote.
type stampLine struct {
	run   string
	sched int64 // JETCRON_SCHEDULED: Unix seconds (jetcron) or nanoseconds (floors)
	start int64 // Unix nanoseconds at the program's start
}

func readLedger(path string) ([]stampLine, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []stampLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		s, err1 := strconv.ParseInt(fs[1], 10, 64)
		t, err2 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, stampLine{run: fs[0], sched: s, start: t})
	}
	return out, sc.Err()
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// stats of a set of durations.
type stats struct {
	n             int
	p50, p99, max time.Duration
}

func statsOf(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) time.Duration {
		i := int(float64(len(s))*q+0.999999) - 1 // nearest rank
		return s[min(max(i, 0), len(s)-1)]
	}
	return stats{n: len(s), p50: rank(0.5), p99: rank(0.99), max: s[len(s)-1]}
}

func (s stats) String() string {
	return fmt.Sprintf("%s / %s / %s", ms(s.p50), ms(s.p99), ms(s.max))
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

// loadavg is the 1-minute load average.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// rssKB is a process's VmRSS in KiB.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// row is a line of the result table.
type row struct {
	Figure, Value, Floor, Ratio, Target, Met, Load string
}

func (e *env) add(r row) {
	if r.Load == "" {
		r.Load = loadavg()
	}
	e.rows = append(e.rows, r)
	fmt.Printf("  => %s: %s (floor %s, ratio %s) target %s %s, load %s\n", r.Figure, r.Value, r.Floor, r.Ratio, r.Target, r.Met, r.Load)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
