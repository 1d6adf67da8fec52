package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

const (
	// defaultAddress is where the operator commands look for a server when neither
	// -address nor $JETCRON_ADDR says otherwise.
	defaultAddress = "nats://127.0.0.1:4222"
	// addressEnv names the environment variable that sets -address's default.
	addressEnv = "JETCRON_ADDR"
	// connectTimeout bounds the dial of each server URL.
	connectTimeout = 2 * time.Second
	// commandTimeout bounds everything an operator command asks of the cluster.
	commandTimeout = 15 * time.Second
)

// Exit codes of every command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// cmdFunc is an operator command: it reads its arguments (everything after its name),
// writes to stdout and stderr, and returns the process exit code.
type cmdFunc func(args []string, stdout, stderr io.Writer) int

// usage describes a command for its -h text.
type usage struct {
	name     string // "job status"
	args     string // "[JOB | JOB/periodic-UNIX]"
	synopsis string // one paragraph
}

// command is one command's flag set and shared client flags.
type command struct {
	fs      *flag.FlagSet
	u       usage
	address string
	creds   string
	tls     tlsFlags
	json    bool
	// cl is the connection dial made, nil before; fail reports the permission the
	// server refused it, if any.
	cl *client
}

// newCommand makes a command's flag set with -address, -creds, the TLS flags and
// -json: every command that talks to a server can print its answer as JSON.
func newCommand(u usage) *command {
	c := &command{fs: flag.NewFlagSet("jetcron "+u.name, flag.ContinueOnError), u: u}
	c.fs.SetOutput(io.Discard)
	addr := os.Getenv(addressEnv)
	if addr == "" {
		addr = defaultAddress
	}
	c.fs.StringVar(&c.address, "address", addr,
		"NATS URL of a jetcron server, or several separated by commas ($"+addressEnv+")")
	c.fs.StringVar(&c.creds, "creds", "", "NATS credentials file (optional)")
	c.tls.register(c.fs)
	c.fs.BoolVar(&c.json, "json", false, "print JSON instead of text")
	return c
}

// localCommand makes a flag set for a command that does not talk to a server.
func localCommand(u usage) *command {
	c := &command{fs: flag.NewFlagSet("jetcron "+u.name, flag.ContinueOnError), u: u}
	c.fs.SetOutput(io.Discard)
	return c
}

// printUsage writes the command's usage text.
func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: jetcron %s [options] %s\n\n", c.u.name, c.u.args)
	for _, line := range strings.Split(c.u.synopsis, "\n") {
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w, "\nOptions:")
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// parse reads flags that may stand before, between or after the positional
// arguments, and checks their number: at least min, at most max (-1 = any). On -h it
// prints the usage on stdout and returns exit code 0 and ok false; on a bad flag or
// count, the problem and the usage on stderr, exit code 2 and ok false.
func (c *command) parse(args []string, min, max int, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printUsage(stdout)
				return nil, exitOK, false
			}
			fmt.Fprintf(stderr, "Error: %v\n\n", err)
			c.printUsage(stderr)
			return nil, exitUsage, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		switch {
		case max == 0:
			fmt.Fprintf(stderr, "Error: jetcron %s takes no arguments\n\n", c.u.name)
		case min == max:
			fmt.Fprintf(stderr, "Error: jetcron %s takes %d argument(s): %s\n\n", c.u.name, min, c.u.args)
		default:
			fmt.Fprintf(stderr, "Error: jetcron %s takes %s\n\n", c.u.name, c.u.args)
		}
		c.printUsage(stderr)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// fail prints err as one line on stderr and returns exit code 1.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "Error: %s\n", oneLine(err.Error()))
	return exitError
}

// fail prints err as one line on stderr and returns exit code 1. When the server
// refused the command's credentials something, that refusal is the error shown: the
// operation that waited for it failed only because of it.
func (c *command) fail(stderr io.Writer, err error) int {
	return fail(stderr, c.cl.explain(err))
}

// oneLine drops the library's "nats: " prefixes and joins lines.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "nats: ", "")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// client is a connection to the cluster for one command: the operator queries, and
// the watch for permissions the server refuses.
type client struct {
	*operator.Client
	perm permissionWatch
}

// connect dials the command's -address with its credentials and TLS flags. Its
// errors are one line that names the address ("no server at nats://127.0.0.1:4222")
// or the flag and file at fault, and say what to do about TLS.
func (c *command) connect() (*client, error) {
	cl := &client{}
	opts := []nats.Option{
		nats.Name("jetcron " + c.u.name),
		nats.Timeout(connectTimeout),
		nats.NoReconnect(),
		// The library's default handler prints to the process's stderr; permission
		// violations end the command instead (see permissionWatch).
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { cl.perm.report(err) }),
	}
	if c.creds != "" {
		if _, err := os.Stat(c.creds); err != nil {
			return nil, fmt.Errorf("credentials file %s: %w", c.creds, errors.Unwrap(err))
		}
		opts = append(opts, nats.UserCredentials(c.creds))
		// Credentials jetcron made say their role, and the inbox their permissions
		// allow (a runner's is its own); others keep the default inbox.
		if id, err := acl.ReadIdentity(c.creds); err == nil {
			cl.perm.role = id.Role
			if id.Inbox != subjects.DefaultInboxPrefix {
				opts = append(opts, nats.CustomInboxPrefix(id.Inbox))
			}
		}
	}
	tc, err := c.tls.config(c.fs)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(c.address, opts...)
	if err != nil {
		if terr := c.tls.explain(err, c.address); terr != nil {
			return nil, terr
		}
		var ne net.Error
		switch {
		case errors.Is(err, nats.ErrNoServers):
			return nil, fmt.Errorf("no server at %s", c.address)
		case errors.Is(err, nats.ErrAuthorization):
			return nil, authError(c.address, c.creds)
		case errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("no server at %s (%s)", c.address, oneLine(err.Error()))
		default:
			return nil, fmt.Errorf("connect to %s: %s", c.address, oneLine(err.Error()))
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream at %s: %w", c.address, err)
	}
	cl.Client = operator.New(nc, js, c.address)
	return cl, nil
}

// dial connects as connect does and gives the command its deadline: ctx ends after
// commandTimeout, or as soon as the server refuses the credentials an operation
// (its cause is then the *permissionError); done releases both.
func (c *command) dial() (cl *client, ctx context.Context, done func(), err error) {
	cl, err = c.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	c.cl = cl
	base, stop := context.WithCancelCause(context.Background())
	cl.perm.onRefusal(stop)
	ctx, cancel := context.WithTimeout(base, commandTimeout)
	return cl, ctx, func() { cancel(); stop(nil); cl.Close() }, nil
}

// exitCode ends a command with that code and nothing more printed: the command
// has already said why (a skipped force exits 1 after printing the reason).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// remote is the prologue and epilogue that every command asking the cluster shares:
// parse args (min to max positional arguments, as parse), run check on them (nil
// for none; its error is a usage error: printed with the usage, exit code 2), dial,
// call fn with the command's deadline, and turn fn's error into the exit code: an
// exitCode as it is, any other error one line on stderr and exit code 1.
func (c *command) remote(args []string, min, max int, stdout, stderr io.Writer,
	check func(pos []string) error, fn func(ctx context.Context, cl *client, pos []string) error) int {
	pos, code, ok := c.parse(args, min, max, stdout, stderr)
	if !ok {
		return code
	}
	if check != nil {
		if err := check(pos); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n\n", err)
			c.printUsage(stderr)
			return exitUsage
		}
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()
	err = fn(ctx, cl, pos)
	var ec exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		return int(ec)
	default:
		return c.fail(stderr, err)
	}
}

// explain returns the permission the server refused this connection, if it
// refused one, instead of err (a timeout or a cancellation it caused); else err.
func (cl *client) explain(err error) error {
	if cl == nil || err == nil {
		return err
	}
	var nc *nats.Conn
	if cl.Client != nil {
		nc = cl.Conn()
	}
	if perr := cl.perm.refusal(nc); perr != nil {
		return perr
	}
	return err
}

// Close closes the connection.
func (cl *client) Close() { cl.Conn().Close() }

// newTable returns a writer that aligns tab-separated columns as Nomad does: two
// spaces between columns. Flush it when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// row writes one tab-separated row.
func row(w io.Writer, cols ...string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

// printFields writes "Key = value" lines with the '=' aligned, as Nomad's status
// output; a value of several lines continues under the first.
func printFields(w io.Writer, fields [][2]string) {
	width := 0
	for _, f := range fields {
		width = max(width, len(f[0]))
	}
	for _, f := range fields {
		lines := strings.Split(f[1], "\n")
		fmt.Fprintf(w, "%-*s = %s\n", width, f[0], lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%*s   %s\n", width, "", l)
		}
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatTime shows t in loc as RFC 3339; the zero time shows as "-".
func formatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(time.RFC3339)
}

// formatDuration rounds d to seconds.
func formatDuration(d time.Duration) string {
	return d.Round(time.Second).String()
}
