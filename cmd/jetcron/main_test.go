package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestDispatchUnknownOrMissingSubcommandPrintsUsageAndExits2(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		mentions string // in the usage's Commands list
		err      string
	}{
		{nil, "server members", ""},
		{[]string{"bogus"}, "job periodic force", `unknown command "bogus"`},
		{[]string{"job"}, "periodic force", "jetcron job needs a subcommand"},
		{[]string{"job", "bogus"}, "validate", `unknown command "job bogus"`},
		{[]string{"job", "periodic"}, "force", "jetcron job periodic needs a subcommand"},
		{[]string{"node", "bogus", "x"}, "drain", `unknown command "node bogus"`},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != exitUsage {
			t.Errorf("%q: exit code %d, want 2", tc.args, code)
		}
		if out.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", tc.args, out.String())
		}
		if !strings.Contains(errOut.String(), "Usage: jetcron") || !strings.Contains(errOut.String(), tc.mentions) ||
			!strings.Contains(errOut.String(), tc.err) {
			t.Errorf("%q: stderr %q, want usage listing %q and %q", tc.args, errOut.String(), tc.mentions, tc.err)
		}
	}
}

func TestDispatchHelpListsCommandsAndExits0(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"job", "-h"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "status") || errOut.Len() != 0 {
			t.Errorf("%q: code %d stdout %q stderr %q", args, code, out.String(), errOut.String())
		}
	}
}

func TestDispatchReachesEachCommand(t *testing.T) {
	// Each command's -h names the command, so the dispatch went to the right one.
	for _, path := range []string{"server members", "node status", "node drain", "job run", "job validate",
		"job import", "job status", "job periodic force", "job backfill", "job pause", "job resume", "job stop", "run logs"} {
		var out, errOut bytes.Buffer
		code := run(append(strings.Fields(path), "-h"), &out, &errOut)
		if code != exitOK || !strings.HasPrefix(out.String(), "Usage: jetcron "+path+" ") {
			t.Errorf("%s -h: code %d stdout %q", path, code, out.String())
		}
	}
}

func TestVersionPrintsBuild(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != exitOK || out.String() != "jetcron "+version+"\n" {
		t.Fatalf("code %d stdout %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"version", "-json"}, &out, &errOut); code != exitOK || out.String() != "{\n  \"version\": \""+version+"\"\n}\n" {
		t.Fatalf("-json: code %d stdout %q", code, out.String())
	}
}

func TestDashDashVersionPrintsTheBuildAsVersionDoes(t *testing.T) {
	want, _, _ := runCmd(func(a []string, o, e io.Writer) int { return run([]string{"version"}, o, e) })
	for _, flag := range []string{"--version", "-version"} {
		got, _, code := runCmd(func(a []string, o, e io.Writer) int { return run([]string{flag}, o, e) })
		if code != exitOK || got != want || !strings.HasPrefix(got, "jetcron ") {
			t.Errorf("%s: code %d %q, want %q", flag, code, got, want)
		}
	}
}

func TestCompletionCompletesEveryCommandPath(t *testing.T) {
	script, _, code := runCmd(cmdCompletion, "bash")
	if code != exitOK || !strings.Contains(script, "complete -F _jetcron jetcron") {
		t.Fatalf("code %d\n%s", code, script)
	}
	for _, want := range []string{
		`"") COMPREPLY=($(compgen -W "acl agent completion job node run server tls version"`,
		`"job") COMPREPLY=($(compgen -W "backfill import pause periodic plan resume run status stop validate"`,
		`"job periodic") COMPREPLY=($(compgen -W "force"`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("bash script lacks %s", want)
		}
	}
	if zsh, _, code := runCmd(cmdCompletion, "zsh"); code != exitOK || !strings.HasPrefix(zsh, "autoload -U +X bashcompinit") {
		t.Errorf("zsh: code %d", code)
	}
	if _, stderr, code := runCmd(cmdCompletion, "fish"); code != exitUsage || !strings.Contains(stderr, `no completion for shell "fish"`) {
		t.Errorf("fish: code %d %s", code, stderr)
	}
}
