package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one agent process: a server or a runner host. Start it again after a kill
// and it comes back with the same name, config files and data dir; its log file is
// appended to.
type Proc struct {
	// Name is the server's name or the host's host name (= its node name).
	Name string
	Role Role
	// Dir holds its configs, data/ and agent.log.
	Dir string
	// Log is its log file (stdout and stderr, every incarnation appended).
	Log string
	// Addr and URL are a server's bind address and client URL; empty for hosts.
	Addr, URL string
	// HTTP is the base URL of the agent's HTTP interface (ports.http), such as
	// "http://127.0.0.1:4646": a server's views, /metrics and /v1/health, a host's
	// /v1/health.
	HTTP string

	c       *Cluster
	configs []string
	netns   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current incarnation exited
	exitErr error
	up      bool // Start was called more recently than a deliberate stop
	starts  int
}

// Start starts the agent (again). It is an error if it is running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isDone(p.done) {
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	argv := []string{p.c.opts.Jetcron, "agent"}
	for _, f := range p.configs {
		argv = append(argv, "-config", f)
	}
	switch {
	case p.Role == RoleHost:
		// A host of its own: a UTS namespace whose host name is the node's name.
		argv = append([]string{"unshare", "--uts", "--", "/bin/sh", "-c", `hostname "$0" && exec "$@"`, p.Name}, argv...)
	case p.netns != "":
		argv = append([]string{"ip", "netns", "exec", p.netns}, argv...)
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "\n==== e2e: start #%d at %s: %s\n", p.starts, time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = p.Dir
	// Its own process group (a ^C to the harness does not reach it; Close kills
	// it), and SIGKILL if the harness dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.done, p.exitErr, p.up = cmd, make(chan struct{}), nil, true
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.c.progress("start %s %s (pid %d)", p.Role, p.Name, cmd.Process.Pid)
	return nil
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// PID is the agent's process ID (the jetcron process itself: unshare and ip netns
// exec exec it in place), 0 if it never started.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the current incarnation has not exited (a stopped
// process is running).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isDone(p.done)
}

// ExitStatus describes how the last incarnation ended ("running" if it has not).
func (p *Proc) ExitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.cmd == nil:
		return "never started"
	case !isDone(p.done):
		return "running"
	case p.exitErr == nil:
		return "exit status 0"
	default:
		return p.exitErr.Error()
	}
}

// Unexpected reports whether the agent exited although nobody killed or stopped it
// (a crash): it should be up and is not.
func (p *Proc) Unexpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up && p.cmd != nil && isDone(p.done)
}

func (p *Proc) wantUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// Kill sends SIGKILL to the agent and waits for it to exit. For a runner host it
// kills the whole host: the agent and every process it started (its runs), as a
// machine that dies would.
func (p *Proc) Kill() error {
	return p.signalAndWait(syscall.SIGKILL, "SIGKILL", p.Role == RoleHost, 10*time.Second)
}

// Term sends SIGTERM to the agent alone, as systemd's stop does (KillMode=mixed), and
// waits up to within for it to exit on its own.
func (p *Proc) Term(within time.Duration) error {
	return p.signalAndWait(syscall.SIGTERM, "SIGTERM", false, within)
}

// signalAndWait marks the agent deliberately down, sends it sig (named name; to its
// descendants too when tree is set), and waits up to within for it to exit.
func (p *Proc) signalAndWait(sig syscall.Signal, name string, tree bool, within time.Duration) error {
	p.mu.Lock()
	p.up = false
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isDone(done) {
		return nil
	}
	pids := []int{cmd.Process.Pid}
	if tree {
		pids = append(pids, Descendants(cmd.Process.Pid)...)
	}
	p.c.progress("%s %s %s (pids %v)", name, p.Role, p.Name, pids)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	select {
	case <-done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("%s (pid %d) did not exit %s after %s", p.Name, cmd.Process.Pid, within, name)
	}
}

// Stop sends SIGSTOP: the agent freezes, as in a long GC pause or a VM pause. For a
// runner host the whole host freezes: the agent and its runs. Cont wakes it.
func (p *Proc) Stop() error { return p.signalTree(syscall.SIGSTOP, "SIGSTOP") }

// Cont sends SIGCONT to what Stop froze.
func (p *Proc) Cont() error { return p.signalTree(syscall.SIGCONT, "SIGCONT") }

func (p *Proc) signalTree(sig syscall.Signal, name string) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isDone(done) {
		return fmt.Errorf("%s is not running", p.Name)
	}
	pids := []int{cmd.Process.Pid}
	if p.Role == RoleHost {
		pids = append(pids, Descendants(cmd.Process.Pid)...)
	}
	p.c.progress("%s %s %s (pids %v)", name, p.Role, p.Name, pids)
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// close kills the agent and its descendants, whatever state they are in.
func (p *Proc) close() {
	p.mu.Lock()
	p.up = false
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isDone(done) {
		return
	}
	pids := append([]int{cmd.Process.Pid}, Descendants(cmd.Process.Pid)...)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Descendants returns the process IDs of every descendant of pid, read from /proc.
func Descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppid(n); pp > 0 {
			children[pp] = append(children[pp], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, c := range children[x] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func ppid(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// Alive reports whether a process with this ID exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}
