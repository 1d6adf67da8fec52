package main

import (
	"bytes"
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
		"job status", "job periodic force", "job stop", "run logs"} {
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
}
