package runner

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

func TestParsePolicy(t *testing.T) {
	p, err := parsePolicy(nil)
	if err != nil || !p.allowRoot || p.commands != nil || p.env != nil {
		t.Errorf("no options: %+v %v; want everything allowed", p, err)
	}
	p, err = parsePolicy(map[string]string{
		AllowRootOption: "0", CommandAllowlistOption: " /usr/local/bin/* , /opt/x ", EnvAllowlistOption: "PATH,LC_*",
	})
	if err != nil || p.allowRoot || !slices.Equal(p.commands, []string{"/usr/local/bin/*", "/opt/x"}) || !slices.Equal(p.env, []string{"PATH", "LC_*"}) {
		t.Errorf("options: %+v %v", p, err)
	}
	if !p.commandAllowed("/usr/local/bin/backup") || p.commandAllowed("/usr/local/bin/sub/backup") || p.commandAllowed("/bin/sh") {
		t.Errorf("allow-list %q misjudges", p.commands)
	}
	if p, _ := parsePolicy(map[string]string{CommandAllowlistOption: ""}); p.commandAllowed("/bin/true") {
		t.Error("an empty allow-list allows a command")
	}
	for opt, v := range map[string]string{
		AllowRootOption: "maybe", CommandAllowlistOption: "bin/*", EnvAllowlistOption: "[",
	} {
		if _, err := parsePolicy(map[string]string{opt: v}); err == nil {
			t.Errorf("%s = %q accepted", opt, v)
		}
	}
}

func TestPolicyEnviron(t *testing.T) {
	t.Setenv("JETCRON_TEST_SECRET", "s3cret")
	t.Setenv("LC_TEST", "x")
	all, _ := parsePolicy(nil)
	if !slices.Contains(all.environ(), "JETCRON_TEST_SECRET=s3cret") {
		t.Error("without an allow-list, the agent's environment is not passed")
	}
	some, _ := parsePolicy(map[string]string{EnvAllowlistOption: "PATH,LC_*"})
	env := some.environ()
	if slices.Contains(env, "JETCRON_TEST_SECRET=s3cret") || !slices.Contains(env, "LC_TEST=x") {
		t.Errorf("allow-list PATH,LC_*: %q", env)
	}
}

func TestCheckCommandRefusesWhatOthersCanChange(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok", 0o755)
	worldWritable := write("ww", 0o777)
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	inOpen := filepath.Join(open, "prog")
	if err := os.WriteFile(inOpen, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(worldWritable, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cmd, err string }{
		{ok, ""},
		{"/bin/sh", ""},
		{worldWritable, "is writable by others"},
		{link, "is writable by others"},
		{inOpen, "which is writable by others"},
		{"/dev/null", "not a regular file"},
	} {
		err := checkCommand(c.cmd)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.cmd, err)
		case c.err != "" && (!errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want ErrBadCommand with %q", c.cmd, err, c.err)
		}
	}
}

// launchAs publishes a launch whose task names user.
func (e *testEnv) launchAs(t *testing.T, node, jobName string, tk time.Time, task job.Task, user string) *subjects.Launch {
	t.Helper()
	l := e.place(t, node, jobName, tk, task)
	task.User = user
	data, err := json.Marshal(&task)
	if err != nil {
		t.Fatal(err)
	}
	l.Task = data
	e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
	return l
}

// The node's policy is applied to each run: the command allow-list, runs as root
// refused without a task user, a task user switched to (the tests run as root), the
// environment allow-list.
func TestRunPolicy(t *testing.T) {
	e := newEnv(t, 1)
	strict := e.options(t, "strict")
	strict.ClientOptions = map[string]string{
		RawExecOption: "1", AllowRootOption: "0", CommandAllowlistOption: "/usr/bin/*,/bin/*", EnvAllowlistOption: "PATH",
	}
	startRunner(t, strict)
	t.Setenv("JETCRON_TEST_SECRET", "s3cret")

	if geteuid() == 0 {
		l := e.launch(t, strict.Name, "asroot", tick(1), rawTask("/bin/true"))
		run := e.waitState(t, l, subjects.StateFailed, 15*time.Second)
		if !strings.Contains(run.Current().Error, "the agent runs as root and the task names no user") {
			t.Errorf("a run as root: %q", run.Current().Error)
		}
		l = e.launchAs(t, strict.Name, "asroot", tick(2), rawTask("/bin/true"), "root")
		run = e.waitState(t, l, subjects.StateFailed, 15*time.Second)
		if !strings.Contains(run.Current().Error, "runs as root are not allowed") {
			t.Errorf("a run as user root: %q", run.Current().Error)
		}
		// As nobody: its uid, its HOME, a working directory it can write, and only
		// the allowed part of the agent's environment.
		l = e.launchAs(t, strict.Name, "asnobody", tick(3),
			rawTask("/bin/sh", "-c", `touch ./x && echo "$(id -u) $HOME ${JETCRON_TEST_SECRET:-none} $JETCRON_JOB"`), "nobody")
		e.waitState(t, l, subjects.StateComplete, 15*time.Second)
		key, _ := subjects.RunKeyOf(l.RunID)
		out, err := e.b.Logs.Get(ctxT(t), key)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out.Value())); got != "65534 /nonexistent none asnobody" {
			t.Errorf("run as nobody printed %q", got)
		}
		l = e.launchAs(t, strict.Name, "nosuchuser", tick(4), rawTask("/bin/true"), "no-such-user-here")
		run = e.waitState(t, l, subjects.StateFailed, 15*time.Second)
		if !strings.Contains(run.Current().Error, `bad task user "no-such-user-here"`) {
			t.Errorf("an unknown user: %q", run.Current().Error)
		}
	}
	prog := script(t, "exit 0\n")
	l := e.launchAs(t, strict.Name, "notallowed", tick(5), rawTask(prog), "nobody")
	run := e.waitState(t, l, subjects.StateFailed, 15*time.Second)
	if !strings.Contains(run.Current().Error, "command not allowed") || !strings.Contains(run.Current().Error, prog) {
		t.Errorf("a command outside the allow-list: %q", run.Current().Error)
	}
}
