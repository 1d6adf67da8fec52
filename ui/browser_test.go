package ui_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/agent"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed/embedtest"
)

// screenshot, when set, is where TestBrowser saves a PNG of the job list once it has
// clicked through: `go test ./ui -run TestBrowser -args -screenshot $PWD/docs/ui-jobs.png`.
var screenshot = flag.String("screenshot", "", "save a PNG of the job list here")

// browserJobs are the job files of the browser test's dev agent: one that fails, one
// that passes, one that runs for 3 s printing a line every 300 ms, a paused one and
// one that no node can run.
var browserJobs = map[string]string{
	"failing": `periodic: {cron: "@every 2s"}
task: {driver: raw_exec, config: {command: /bin/sh, args: ["-c", "echo boom; exit 3"]}}
`,
	"passing": `periodic: {cron: "@every 2s"}
task: {driver: raw_exec, config: {command: /bin/echo, args: ["all good"]}}
`,
	"long": `periodic: {cron: "@every 5s", prohibit_overlap: true}
task: {driver: raw_exec, config: {command: /bin/sh, args: ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.3; done"]}}
`,
	"nightly-backup": `periodic: {cron: "0 2 * * *"}
paused: true
pause_note: db migration, INC-42
task: {driver: raw_exec, config: {command: /bin/true}}
`,
	"gpu-report": `periodic: {cron: "@hourly"}
constraints: [{attribute: "${node.class}", operator: "=", value: gpu}]
task: {driver: raw_exec, config: {command: /bin/true}}
`,
}

// chromium finds Debian's chromium; the test fails without it, as CI installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("no chromium on $PATH (looked for chromium and chromium-browser): the browser test needs Debian's chromium, " +
		"`apt-get install chromium` (.ci/run installs it); go test -short skips this test")
	return ""
}

// devAgent runs a dev agent (server and runner in one process) on free ports with
// browserJobs, until the test ends, and returns its HTTP base URL.
func devAgent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs")
	if err := os.Mkdir(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, spec := range browserJobs {
		if err := os.WriteFile(filepath.Join(jobs, name+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := configs.Load(nil, configs.Overrides{Dev: true, Name: "web-1", BindAddr: "127.0.0.1", DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	ports, err := embedtest.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Ports.NATS, cfg.Ports.Cluster, cfg.Ports.HTTP = ports[0], ports[1], ports[2]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	go func() {
		done <- agent.Run(ctx, cfg, agent.Options{Logger: log, Version: "test", Dev: true, JobsDir: jobs, Out: io.Discard})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev agent: %v", err)
		}
	})
	return fmt.Sprintf("http://127.0.0.1:%d", cfg.Ports.HTTP)
}

// newBrowser starts headless chromium (no sandbox: CI runs as root); the test's end
// closes it. Each step of the test is bounded by the test's own waits.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 720))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, for as long as ctx
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds each browser step, so that a selector that never shows fails
// the test instead of hanging it.
const stepTimeout = 15 * time.Second

// do runs steps in the page.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// value runs an action in the page and returns its value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// js evaluates expr in the page; it must not wait for anything.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return value(t, ctx, chromedp.Evaluate[T](expr))
}

// until polls cond every 200 ms until it holds, failing the test with what after
// limit.
func until(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
	}
}

// TestBrowser drives Debian's chromium through the UI of a dev agent that runs real
// jobs: the job list marks the failing job, a click on it and then on a failed run
// shows that run's error and exit code, and the page of a running run shows its log
// growing while the run prints (live output through the follow stream, no reload),
// up to its last line.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: starts an agent and chromium")
	}
	ctx := newBrowser(t)
	base := devAgent(t)

	// The job list, reached from /: the failing job's last result is marked failed.
	result := `(document.querySelector('tr[data-job="failing"] td.result .badge') || {}).className || ""`
	until(t, 45*time.Second, "the job list never marked the failing job failed", func() bool {
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS("body")))
		return js[string](t, ctx, result) == "badge bad"
	})
	if got := js[string](t, ctx, `document.querySelector('tr[data-job="failing"] td.result .badge').textContent`); got != "failed" {
		t.Errorf("the failing job's last result reads %q", got)
	}
	if got := js[string](t, ctx, `document.querySelector('tr[data-job="gpu-report"] td.warning').textContent`); !strings.Contains(got, "no node is eligible now") {
		t.Errorf("the job no node can run has no warning: %q", got)
	}

	// Its page, then a failed run of its table: the run's error and exit code.
	do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-job="failing"] a.name`)), chromedp.WaitVisible(chromedp.CSS(`svg rect.bad`)),
		chromedp.Click(chromedp.CSS(`table.runs tr[data-state="failed"] a`)), chromedp.WaitVisible(chromedp.ID("exit-code")))
	url := value(t, ctx, chromedp.Location())
	exit := value(t, ctx, chromedp.Text(chromedp.ID("exit-code")))
	reason := value(t, ctx, chromedp.Text(chromedp.ID("error")))
	log := value(t, ctx, chromedp.TextContent(chromedp.ID("log")))
	if !strings.Contains(url, "/ui/run/failing/periodic-") || exit != "3" || reason != "exit code 3" || !strings.Contains(log, "boom") {
		t.Fatalf("failed run page %s: exit code %q, error %q, log %q; want 3, exit code 3, boom", url, exit, reason, log)
	}

	// A running run of the long job: its log is followed until the run ends.
	running := `(document.querySelector('table.runs tr[data-state="running"] a') || {}).href || ""`
	until(t, 30*time.Second, "no page of a running run of the long job", func() bool {
		do(t, ctx, chromedp.Navigate(base+"/ui/job/long"), chromedp.WaitReady(chromedp.CSS("body")))
		if u := js[string](t, ctx, running); u != "" {
			do(t, ctx, chromedp.Navigate(u), chromedp.WaitReady(chromedp.ID("log")))
		}
		return js[string](t, ctx, `(document.getElementById("log") || {dataset: {}}).dataset.follow || ""`) != ""
	})
	js[bool](t, ctx, `window.notReloaded = true`)
	var reads []string // the log's text while the page says the run is running
	until(t, 15*time.Second, "the page never saw the run end", func() bool {
		if js[string](t, ctx, `document.getElementById("state").textContent`) == "running" {
			reads = append(reads, js[string](t, ctx, `document.getElementById("log").textContent`))
		}
		return js[string](t, ctx, `document.body.dataset.follow || ""`) == "ended"
	})
	final := js[string](t, ctx, `document.getElementById("log").textContent`)
	if !js[bool](t, ctx, `window.notReloaded === true`) {
		t.Fatal("the run's page was reloaded: the log did not come through the follow stream")
	}
	if !grewWhileRunning(reads) {
		t.Fatalf("the log did not grow while the run ran (read every 200 ms): %q", reads)
	}
	if !strings.HasPrefix(final, "line 1\n") || !strings.HasSuffix(final, "line 10\n") {
		t.Fatalf("log at the end %q: want every line, from the stored output", final)
	}
	if state := js[string](t, ctx, `document.getElementById("state").textContent`); state != "complete" {
		t.Errorf("state at the end: %q", state)
	}

	if *screenshot != "" {
		saveScreenshot(t, ctx, base+"/ui/", *screenshot)
	}
}

// grewWhileRunning reports whether two reads of a log show it growing: a later read
// longer than an earlier one that was not empty.
func grewWhileRunning(reads []string) bool {
	for i := 1; i < len(reads); i++ {
		if reads[i-1] != "" && len(reads[i]) > len(reads[i-1]) {
			return true
		}
	}
	return false
}

// saveScreenshot saves a PNG of the page at url, its viewport, to path.
func saveScreenshot(t *testing.T, ctx context.Context, url, path string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
	png := value(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(png))
}
