package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

// badInput is a value put through `nats kv put jobs KEY VALUE` that jetcron must
// reject with a clear error (or that NATS itself refuses, when refusable).
type badInput struct {
	name, key, value string
	// want are substrings (any one, case-insensitive) of the error job status must show.
	want []string
	// refusable: the nats CLI may refuse the key or value itself; its error then
	// must name the problem (one of cliWant).
	refusable bool
	cliWant   []string
}

const okTask = "task:\n  config:\n    command: /bin/true\n"

func badInputs() []badInput {
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += fmt.Sprintf("%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	bomb += "periodic: {cron: \"@every 1s\"}\n" + okTask
	pad := func(n int) string {
		s := "periodic: {cron: \"@every 1s\"}\n" + okTask + "# "
		return s + strings.Repeat("x", n-len(s)-1) + "\n"
	}
	every := "periodic: {cron: \"@every 1s\"}\n"
	return []badInput{
		{name: "broken YAML", key: "bad-yaml", value: "periodic: {cron: \"@every 1s\"\ntask: [unclosed\n", want: []string{"yaml", "line"}},
		{name: "YAML alias bomb", key: "bad-bomb", value: bomb, want: []string{"alias"}},
		{name: "1 MiB value", key: "bad-1mib", value: pad(1 << 20), want: []string{"larger", "too large", "size", "bytes"}, refusable: true, cliWant: []string{"payload", "size", "large"}},
		{name: "value just under 1 MiB", key: "bad-big", value: pad(1<<20 - 4096), want: []string{"larger", "too large", "size", "bytes"}, refusable: true, cliWant: []string{"payload", "size", "large"}},
		{name: "unknown field", key: "bad-field", value: "periodic: {cron: \"@every 1s\", prohibit_overlapp: true}\n" + okTask, want: []string{"prohibit_overlapp"}},
		{name: "invalid cron", key: "bad-cron", value: "periodic: {cron: \"61 * * * *\"}\n" + okTask, want: []string{"cron", "minute"}},
		{name: "cron that never fires", key: "bad-feb30", value: "periodic: {cron: \"0 0 30 2 *\"}\n" + okTask, want: []string{"never"}},
		{name: "unknown time zone", key: "bad-tz", value: "periodic: {cron: \"@every 1s\", time_zone: Mars/Olympus_Mons}\n" + okTask, want: []string{"time zone", "time_zone"}},
		{name: "relative command", key: "bad-relcmd", value: every + "task:\n  config:\n    command: bin/echo\n", want: []string{"absolute"}},
		{name: "unknown driver", key: "bad-driver", value: every + "task:\n  driver: docker\n  config:\n    command: /bin/true\n", want: []string{"driver"}},
		{name: "name not matching the key", key: "bad-name", value: "name: other\n" + every + okTask, want: []string{"name"}},
		{name: "negative timeout", key: "bad-timeout-neg", value: every + okTask + "  timeout: -5s\n", want: []string{"negative"}},
		{name: "absurd timeout", key: "bad-timeout-huge", value: every + okTask + "  timeout: 1000000h\n", want: []string{"limit"}},
		{name: "negative kill_timeout", key: "bad-killtimeout", value: every + okTask + "  kill_timeout: -1s\n", want: []string{"negative"}},
		{name: "negative cpu", key: "bad-cpu", value: every + okTask + "  resources: {cpu: -100, memory: 256}\n", want: []string{"negative"}},
		{name: "absurd memory", key: "bad-mem", value: every + okTask + "  resources: {cpu: 100, memory: 99999999999999}\n", want: []string{"limit", "range", "overflow"}},
		{name: "key with a dot", key: "bad.dot", value: every + okTask, want: []string{"name", "key"}, refusable: true, cliWant: []string{"key"}},
		{name: "key with a space", key: "bad space", value: every + okTask, want: []string{"name", "key"}, refusable: true, cliWant: []string{"key"}},
		{name: "key with *", key: "bad*", value: every + okTask, want: []string{"name", "key"}, refusable: true, cliWant: []string{"key"}},
		{name: "key with >", key: "bad>", value: every + okTask, want: []string{"name", "key"}, refusable: true, cliWant: []string{"key"}},
		{name: "non-ASCII key", key: "bäd-jöb", value: every + okTask, want: []string{"name", "key"}, refusable: true, cliWant: []string{"key"}},
	}
}

// literalArgs must reach the program exactly as written: no shell ever sees them.
var literalArgs = []string{"a;b", "$(touch /tmp/jetcron-e2e-pwned)", "line1\nline2", "`id`", "'quoted' \"double\"", "*", "  spaces  ", "$HOME", "|&>"}

// BadInputs puts every bad input of badInputs while good jobs run: each gets a clear
// error in `jetcron job status` (and in the servers' logs), or a clear refusal from
// the nats CLI (on a secure cluster the admin puts them and the reader reads their
// status); the good jobs keep their ticks; a good job given a bad version keeps
// running its last valid one; arguments with shell syntax reach the program literally;
// no agent exits. On a secure cluster, an anonymous client and a plaintext one are
// refused (checkRefusals).
func BadInputs() Scenario {
	return Scenario{
		Name: "bad-inputs",
		What: "broken YAML, alias bomb, 1 MiB value, unknown field, bad crons, unknown zone, relative command, bad keys, bad timeouts and resources, through nats kv put while good jobs run; shell syntax in args arrives literally; secure: an anonymous kv put and a plaintext client are refused",
		Run: func(ctx context.Context, e *Env) error {
			if err := e.PutJob(ctx, "good", JobSpec{Every: time.Second}); err != nil {
				return err
			}
			if err := e.PutJob(ctx, "good-then-bad", JobSpec{Every: 2 * time.Second}); err != nil {
				return err
			}
			// Arguments that a shell would interpret.
			argvFile := filepath.Join(e.LedgerDir(), "argv.bin")
			argv := append([]string{e.Script(), filepath.Join(e.LedgerDir(), "argv.log"), "1", "0.1", argvFile}, literalArgs...)
			quoted, _ := json.Marshal(argv)
			if err := e.PutRaw(ctx, "argv", every1s()+"task:\n  config:\n    command: /bin/sh\n    args: "+string(quoted)+"\n", false); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 3*time.Second); err != nil {
				return err
			}
			// Nobody gets in without credentials, or in plaintext.
			e.checkRefusals(ctx)
			// A bad version of a running job: the last valid one keeps running.
			if err := e.PutRaw(ctx, "good-then-bad", "periodic: {cron: \"@every 2s\", prohibit_overlap: maybe}\n"+okTask, true); err != nil {
				return err
			}
			cases := badInputs()
			refused := map[string]error{}
			for _, bi := range cases {
				if err := e.PutRaw(ctx, bi.key, bi.value, true); err != nil {
					refused[bi.key] = err
				}
			}
			if err := e.Sleep(ctx, 4*time.Second); err != nil {
				return err
			}
			for _, bi := range cases {
				e.judgeBadInput(ctx, bi, refused[bi.key])
			}
			e.judgeBadInput(ctx, badInput{name: "bad version of a running job", key: "good-then-bad", want: []string{"prohibit_overlap"}}, nil)
			got, err := os.ReadFile(argvFile)
			switch {
			case err != nil:
				e.Violate("argv: the job with shell syntax in its args never ran: %v", err)
			case !bytes.Equal(got, []byte(strings.Join(literalArgs, "\x00")+"\x00")):
				e.Violate("argv: arguments did not arrive literally: got %q", got)
			default:
				e.Note("args %q arrived literally", literalArgs)
			}
			if _, err := os.Stat("/tmp/jetcron-e2e-pwned"); err == nil {
				e.Violate("argv: $(touch ...) in an argument was run by a shell")
			}
			if err := e.DelJob(ctx, "argv"); err != nil {
				return err
			}
			// nats stream view runs tells the good job's story.
			e.streamView(ctx, "good")
			// The good job still valid, the bad version's job still launching.
			return e.Sleep(ctx, 4*time.Second)
		},
	}
}

func every1s() string { return "periodic: {cron: \"@every 1s\"}\n" }

// judgeBadInput checks that a bad input was refused by the CLI with a clear error, or
// shows as invalid in `jetcron job status KEY -json` with a clear error that the
// servers also logged.
func (e *Env) judgeBadInput(ctx context.Context, bi badInput, refused error) {
	if refused != nil {
		if !bi.refusable {
			e.Violate("%s: nats kv put failed, but it should have been stored: %v", bi.name, refused)
			return
		}
		if !containsAny(refused.Error(), bi.cliWant) {
			e.Violate("%s: the nats CLI refused it without a clear error: %v", bi.name, refused)
			return
		}
		msg := refused.Error()
		if i := strings.LastIndex(msg, "nats: error: "); i >= 0 {
			msg = msg[i:]
		}
		e.Note("%-30s refused by the nats CLI: %s", bi.name, truncate(msg, 150))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	out, err := e.C.JetcronAs(cctx, cluster.Reader, "job", "status", bi.key, "-json")
	cancel()
	if err != nil {
		e.Violate("%s: jetcron job status %q: %v", bi.name, bi.key, err)
		return
	}
	var st struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		e.Violate("%s: job status -json: %v: %q", bi.name, err, out)
		return
	}
	if st.Status != "invalid" || !containsAny(st.Error, bi.want) {
		e.Violate("%s: job status shows %q with error %q; want invalid with an error naming one of %q", bi.name, st.Status, st.Error, bi.want)
		return
	}
	e.Note("%-30s job status: invalid: %s", bi.name, truncate(strings.ReplaceAll(st.Error, "\n", " | "), 150))
	// The ticker logged it.
	logged := false
	keyJSON, _ := json.Marshal(bi.key)
	for _, s := range e.C.Servers() {
		b, _ := os.ReadFile(s.Log)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"job":`+string(keyJSON)) && strings.Contains(line, "invalid job file") {
				logged = true
				break
			}
		}
	}
	if !logged {
		e.Violate("%s: no server logged the invalid job file %q", bi.name, bi.key)
	}
}

// streamView checks that `nats stream view runs` (under script(1): it wants a
// terminal) shows events of job.
func (e *Env) streamView(ctx context.Context, job string) {
	cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	argv := append(append([]string{e.Cfg.NATSCLI}, e.C.NATSArgs(cluster.Admin)...), "stream", "view", "runs", "--subject", "runs.event."+job, "5")
	c := exec.CommandContext(cctx, "script", "-qec", shellJoin(argv), "/dev/null")
	c.Env = e.C.NATSEnv()
	c.Stdin = strings.NewReader("n\n") // "Next Page?" no
	c.WaitDelay = time.Second
	b, err := c.CombinedOutput()
	out := string(b)
	if !strings.Contains(out, job+"/periodic-") {
		e.Violate("nats stream view runs shows no run of %s: %v: %s", job, err, truncate(out, 300))
		return
	}
	e.Note("nats stream view runs shows the runs of %s", job)
}

// shellJoin quotes each argument for sh.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func containsAny(s string, subs []string) bool {
	s = strings.ToLower(s)
	for _, x := range subs {
		if strings.Contains(s, strings.ToLower(x)) {
			return true
		}
	}
	return false
}
