package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

// startAgent runs an agent with cfg in the background, its warnings and errors to
// the test's log and the returned buffer; the test's end stops it. An HTTP port left
// at its default is replaced by a free one, so that agents of tests running at once
// never collide.
func startAgent(t *testing.T, cfg *configs.Config) *embedtest.LogBuffer {
	t.Helper()
	if cfg.Ports.HTTP == configs.DefaultHTTPPort {
		ports, err := embedtest.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Ports.HTTP = ports[0]
	}
	buf := &embedtest.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(io.MultiWriter(zerolog.NewTestWriter(t), buf)).Level(zerolog.WarnLevel)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: log, Version: "test"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", cfg.Name, err)
		}
	})
	return buf
}

func TestAgentRunsJobsOnAnExistingNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a NATS server")
	}
	// A NATS server started apart from jetcron, as someone who already runs NATS has.
	existing := embedtest.NewCluster(t, 1)
	cfg, err := configs.Load(nil, configs.Overrides{
		Dev: true, NATSURL: existing.URLs(), DataDir: t.TempDir(), Name: "ext-1", BindAddr: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, cfg)

	nc, err := nats.Connect(existing.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var jobs jetstream.KeyValue
	for jobs == nil {
		if jobs, err = js.KeyValue(ctx, subjects.JobsBucket); err != nil && ctx.Err() != nil {
			t.Fatalf("the agent did not provision the jobs bucket on the existing NATS: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	spec := "periodic: {cron: \"@every 1s\"}\ntask: {driver: raw_exec, config: {command: /bin/true}}\n"
	if _, err := jobs.Put(ctx, "tick", []byte(spec)); err != nil {
		t.Fatal(err)
	}
	runs, err := js.KeyValue(ctx, subjects.RunStateBucket)
	if err != nil {
		t.Fatal(err)
	}
	for {
		keys, _ := runs.ListKeys(ctx)
		var complete int
		if keys != nil {
			for k := range keys.Keys() {
				if e, err := runs.Get(ctx, k); err == nil {
					var r subjects.Run
					if json.Unmarshal(e.Value(), &r) == nil && r.State == subjects.StateComplete && r.Current().Node == "ext-1" {
						complete++
					}
				}
			}
		}
		if complete >= 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no runs completed on the existing NATS (%d)", complete)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The agent registered itself on the existing NATS as a server and a node.
	servers, err := js.KeyValue(ctx, subjects.ServersBucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := servers.Get(ctx, "ext-1"); err != nil || !strings.Contains(string(e.Value()), `"name":"ext-1"`) {
		t.Fatalf("server record: %v", err)
	}

	// Its HTTP interface: healthy as a server and a client, and its metrics count
	// the runs that completed.
	base := fmt.Sprintf("http://127.0.0.1:%d", cfg.Ports.HTTP)
	var health, scrape string
	for {
		code, body := httpGet(t, base+"/v1/health")
		health = body
		_, scrape = httpGet(t, base+"/metrics")
		if code == http.StatusOK && strings.Contains(scrape, `jetcron_runs_total{job="tick",outcome="complete"}`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("health %d %s\nmetrics:\n%s", code, health, scrape)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{`"role": "server+client"`, `"name": "ticker"`, `"name": "consumer"`, `"name": "registered"`} {
		if !strings.Contains(health, want) {
			t.Errorf("health lacks %s: %s", want, health)
		}
	}
}

// httpGet returns the status and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
