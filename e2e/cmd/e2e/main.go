// Command e2e is jetcron's end-to-end harness: it builds the jetcron binary and the
// pinned nats CLI, runs each scenario on a fresh cluster of real processes (three
// servers, runner hosts in their own UTS namespaces, servers in network namespaces
// for partitions), injects its faults, and judges the jobs' own ledger together with
// jetcron's run records. It prints a table per scenario and exits 1 if any invariant
// broke.
//
//	go run ./e2e/cmd/e2e              # short mode: every scenario, a few minutes
//	go run ./e2e/cmd/e2e -soak 15m    # random faults for 15 minutes (prints its seed)
//	go run ./e2e/cmd/e2e -soak 15m -seed 42   # replay a soak
//	go run ./e2e/cmd/e2e -run 'leader-.*'     # some scenarios only
//
// Every cluster runs with security on, as the README's secure walk-through deploys
// one: the built binary makes its credentials (`jetcron acl bootstrap`) and
// certificates (`jetcron tls ca create`, `jetcron tls cert create`), the servers
// authenticate every client and speak only TLS (mutual TLS on the routes), each
// runner host has its own runner credentials, the nats CLI and `jetcron` commands run
// with the admin's (status reads with the reader's). -insecure runs the clusters
// without authentication and TLS instead.
//
//	go run ./e2e/cmd/e2e -insecure    # no credentials, no TLS
//
// Network namespaces need root, ip (iproute2) and nft or iptables; without them the
// partition scenario and the soak fail with the reason.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/e2e/harness"
)

func main() {
	soak := flag.Duration("soak", 0, "run the soak scenario for this long instead of the short scenarios")
	seed := flag.Uint64("seed", 0, "random seed (default: from the clock; printed)")
	run := flag.String("run", "", "run only the scenarios whose name matches this regexp")
	dir := flag.String("dir", "", "where binaries, logs and ledgers go (default: a new temp dir, kept)")
	verbose := flag.Bool("v", false, "print every cluster action (start, kill, partition)")
	bin := flag.String("bin", "", "use the jetcron and nats binaries in this folder instead of building them")
	insecure := flag.Bool("insecure", false, "run the clusters without authentication and TLS (default: credentials per role and TLS)")
	flag.Parse()
	os.Exit(mainErr(*soak, *seed, *run, *dir, *verbose, *bin, *insecure))
}

func mainErr(soak time.Duration, seed uint64, run, dir string, verbose bool, bin string, insecure bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "jetcron-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			return 1
		}
		dir = d
	}
	var jetcron, natsCLI string
	if bin != "" {
		jetcron, natsCLI = filepath.Join(bin, "jetcron"), filepath.Join(bin, "nats")
	} else {
		repo, err := cluster.RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			return 1
		}
		fmt.Printf("building jetcron and the nats CLI into %s/bin\n", dir)
		if jetcron, natsCLI, err = cluster.Build(ctx, repo, filepath.Join(dir, "bin")); err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			return 1
		}
	}
	netnsErr := cluster.NetnsSupported(ctx)
	if netnsErr != nil {
		fmt.Printf("network namespaces unavailable: %v\n", netnsErr)
	}
	cfg := harness.Config{Jetcron: jetcron, NATSCLI: natsCLI, Dir: dir, Seed: seed, Out: os.Stdout, Verbose: verbose, Insecure: insecure}
	var scenarios []harness.Scenario
	if soak > 0 {
		scenarios = []harness.Scenario{harness.Soak(soak, netnsErr)}
	} else {
		scenarios = harness.Scenarios(netnsErr)
	}
	re, err := regexp.Compile(run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: -run:", err)
		return 2
	}
	security := "on (credentials per role, TLS; -insecure turns it off)"
	if insecure {
		security = "OFF (-insecure: no authentication, no TLS)"
	}
	fmt.Printf("jetcron e2e: seed %d, security %s, logs and ledgers in %s\n", seed, security, dir)
	t0 := time.Now()
	var reports []*harness.Report
	for _, sc := range scenarios {
		if !re.MatchString(sc.Name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		rep := harness.RunScenario(ctx, cfg, sc)
		rep.Print(os.Stdout)
		reports = append(reports, rep)
	}
	failed := 0
	mode := "secure"
	if insecure {
		mode = "insecure"
	}
	fmt.Printf("\n=== summary (seed %d, %s, %s in all)\n", seed, mode, time.Since(t0).Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tresult\ttime\tviolations")
	for _, r := range reports {
		res := "PASS"
		if r.Failed() {
			res = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Name, res, r.Took.Round(time.Second), len(r.Violations))
	}
	tw.Flush()
	if failed > 0 || len(reports) == 0 {
		replay := fmt.Sprintf("-seed %d", seed)
		if insecure {
			replay += " -insecure"
		}
		fmt.Printf("FAIL: %d of %d scenarios (replay with %s; logs in %s)\n", failed, len(reports), replay, dir)
		return 1
	}
	fmt.Println("PASS")
	return 0
}
