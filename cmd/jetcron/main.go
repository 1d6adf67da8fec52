// Command jetcron is distributed cron on NATS JetStream: the agent (a server, a
// runner host, or both with -dev) and the operator commands that look at and change
// what the cluster runs. See DESIGN.md, "Commands".
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// version is jetcron's build, set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// subcommand is one entry of the dispatch table: the words that name it, what it
// does in a line, and its function.
type subcommand struct {
	path     []string
	synopsis string
	fn       cmdFunc
}

// subcommands is every command jetcron knows, in the order the usage lists them.
func subcommands() []subcommand {
	return []subcommand{
		{[]string{"agent"}, "run a server, a runner host, or both (-dev)",
			func(args []string, _, _ io.Writer) int { return runAgent(args) }},
		{[]string{"server", "members"}, "list the server agents, their status and the ticker leader", cmdServerMembers},
		{[]string{"node", "status"}, "list the client nodes", cmdNodeStatus},
		{[]string{"node", "drain"}, "keep new runs off a node, or allow them again", cmdNodeDrain},
		{[]string{"job", "run"}, "validate a job file and store it in the jobs bucket", cmdJobRun},
		{[]string{"job", "validate"}, "validate a job file and show its next launches", cmdJobValidate},
		{[]string{"job", "status"}, "show all jobs, one job and its runs, or one run", cmdJobStatus},
		{[]string{"job", "import"}, "turn a Nomad periodic batch job (HCL) into a jetcron job file", cmdJobImport},
		{[]string{"job", "plan"}, "list the ticks of the next hours, where each would run, what would block it", cmdJobPlan},
		{[]string{"job", "periodic", "force"}, "launch a run of a job now", cmdJobPeriodicForce},
		{[]string{"job", "backfill"}, "launch the past ticks of a range that have no record, once", cmdJobBackfill},
		{[]string{"job", "pause"}, "pause a job: its ticks are recorded skipped, with a note, until it is resumed", cmdJobPause},
		{[]string{"job", "resume"}, "resume a paused job: the ticks from now on launch", cmdJobResume},
		{[]string{"job", "stop"}, "delete a job from the jobs bucket", cmdJobStop},
		{[]string{"run", "logs"}, "print the captured output of a run", cmdRunLogs},
		{[]string{"acl", "bootstrap"}, "make the credentials of a new cluster, one per role", cmdACLBootstrap},
		{[]string{"acl", "creds", "create"}, "make one more credentials file (a runner host, ...)", cmdACLCredsCreate},
		{[]string{"acl", "creds", "revoke"}, "revoke a credentials file (a lost host, ...)", cmdACLCredsRevoke},
		{[]string{"tls", "ca", "create"}, "make a certificate authority for a test cluster", cmdTLSCACreate},
		{[]string{"tls", "cert", "create"}, "make a server or client certificate signed by that CA", cmdTLSCertCreate},
		{[]string{"version"}, "print jetcron's version (also: jetcron --version)", cmdVersion},
		{[]string{"completion"}, "print a bash or zsh completion script", cmdCompletion},
	}
}

// run dispatches args (without the program name) to a subcommand and returns the
// exit code: 2 for an unknown or missing subcommand, after the usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-v") {
		return cmdVersion(nil, stdout, stderr)
	}
	cmds := subcommands()
	for _, c := range cmds {
		if len(args) >= len(c.path) && equal(args[:len(c.path)], c.path) {
			return c.fn(args[len(c.path):], stdout, stderr)
		}
	}
	// No command matched: find the longest group prefix the words name, and show its
	// commands.
	var prefix []string
	for _, c := range cmds {
		n := 0
		for n < len(args) && n < len(c.path)-1 && args[n] == c.path[n] {
			n++
		}
		if n > len(prefix) {
			prefix = c.path[:n]
		}
	}
	help := len(args) > len(prefix) && isHelp(args[len(prefix)])
	w, code := stderr, exitUsage
	if help {
		w, code = stdout, exitOK
	}
	switch {
	case help:
	case len(args) == len(prefix) && len(prefix) > 0:
		fmt.Fprintf(w, "Error: jetcron %s needs a subcommand\n\n", strings.Join(prefix, " "))
	case len(args) > len(prefix):
		fmt.Fprintf(w, "Error: unknown command %q\n\n", strings.Join(args[:len(prefix)+1], " "))
	}
	printCommands(w, cmds, prefix)
	return code
}

func isHelp(a string) bool {
	return a == "-h" || a == "-help" || a == "--help" || a == "help"
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// printCommands lists the commands under prefix.
func printCommands(w io.Writer, cmds []subcommand, prefix []string) {
	name := strings.Join(append([]string{"jetcron"}, prefix...), " ")
	fmt.Fprintf(w, "Usage: %s <command> [options] [args]\n\nCommands:\n", name)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, c := range cmds {
		if len(c.path) > len(prefix) && equal(c.path[:len(prefix)], prefix) {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.Join(c.path[len(prefix):], " "), c.synopsis)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun \"%s <command> -h\" for a command's options.\n", name)
}

// cmdVersion prints jetcron's version.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "version", synopsis: "Prints jetcron's version."})
	asJSON := c.fs.Bool("json", false, "print JSON instead of text")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	if *asJSON {
		if err := printJSON(stdout, map[string]string{"version": version}); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "jetcron %s\n", version)
	return exitOK
}
