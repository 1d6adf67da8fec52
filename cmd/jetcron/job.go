package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

const (
	// defaultLaunches is how many next launches validate and run print.
	defaultLaunches = 5
	// maxLaunches bounds -count.
	maxLaunches = 1000
)

// ---- job validate, job run ----

// launchesJSON is the -json output of validate and run.
type launchesJSON struct {
	Job      string   `json:"job"`
	Valid    bool     `json:"valid"`
	Error    string   `json:"error,omitempty"`
	Revision uint64   `json:"revision,omitempty"`
	Launches []string `json:"launches,omitempty"`
	// Resumed: job run stored a file without paused over a paused job.
	Resumed bool `json:"resumed,omitempty"`
}

// cmdJobValidate is `jetcron job validate [-from RFC3339] [-count N] FILE`.
func cmdJobValidate(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job validate", args: "FILE", synopsis: "Validates a job file and prints its next launches (RFC 3339, in the job's\n" +
		"time zone, one a line). The job's name is the file's name: field, else the\n" +
		"file's base name without its extension. Needs no server: -address, -creds and\n" +
		"the -tls-* flags are accepted, as by every command, and unused."})
	from := c.fs.String("from", "", "print the launches after this time (RFC 3339; default now)")
	count := c.fs.Int("count", defaultLaunches, "how many launches to print")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	start := time.Now()
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			fmt.Fprintf(stderr, "Error: -from %q is not an RFC 3339 time such as 2016-10-18T21:00:00Z\n", *from)
			return exitUsage
		}
		start = t
	}
	if *count < 0 || *count > maxLaunches {
		fmt.Fprintf(stderr, "Error: -count %d is not between 0 and %d\n", *count, maxLaunches)
		return exitUsage
	}
	name, data, err := readJobFile(pos[0])
	if err != nil {
		return c.fail(stderr, err)
	}
	j, err := job.Parse(name, data)
	if err != nil {
		return validationFailed(c.json, name, err, stdout, stderr)
	}
	ls := launches(j, start, *count)
	if c.json {
		if err := printJSON(stdout, launchesJSON{Job: name, Valid: true, Launches: ls}); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	fmt.Fprintln(stdout, "Job validation successful")
	printLaunches(stdout, ls)
	return exitOK
}

// cmdJobRun is `jetcron job run FILE`.
func cmdJobRun(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job run", args: "FILE", synopsis: "Validates a job file, stores it in the " + subjects.JobsBucket + " bucket under the job's\n" +
		"name (its name: field, else the file's base name without its extension), and\n" +
		"prints its next launches. Storing a job that exists replaces it; a file without\n" +
		"paused over a paused job resumes it (and says so)."})
	count := c.fs.Int("count", defaultLaunches, "how many launches to print")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *count < 0 || *count > maxLaunches {
		fmt.Fprintf(stderr, "Error: -count %d is not between 0 and %d\n", *count, maxLaunches)
		return exitUsage
	}
	name, data, err := readJobFile(pos[0])
	if err != nil {
		return c.fail(stderr, err)
	}
	j, err := job.Parse(name, data)
	if err != nil {
		return validationFailed(c.json, name, err, stdout, stderr)
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()
	wasPaused, note, err := cl.PauseOf(ctx, name)
	if err != nil {
		return c.fail(stderr, err)
	}
	rev, err := cl.Submit(ctx, name, data)
	if err != nil {
		return c.fail(stderr, err)
	}
	resumed := resumeNotice(name, wasPaused, note, j)
	ls := launches(j, time.Now(), *count)
	if c.json {
		if err := printJSON(stdout, launchesJSON{Job: name, Valid: true, Revision: rev, Launches: ls, Resumed: resumed != ""}); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	if resumed != "" {
		fmt.Fprintf(stderr, "Warning: %s\n", resumed)
	}
	if why, err := cl.NoEligibleNode(ctx, j, time.Now()); err == nil && why != "" {
		fmt.Fprintf(stderr, "Warning: no node is eligible now: %s\n", why)
	}
	fmt.Fprintf(stdout, "Job %q stored (revision %d)\n", name, rev)
	printLaunches(stdout, ls)
	return exitOK
}

// readJobFile reads a job file and names the job: its name: field if it has one,
// else the file's base name without its extension.
func readJobFile(path string) (name string, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("job file: %w", errors.Unwrap(err))
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, subjects.MaxJobFileSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("read job file %s: %w", path, err)
	}
	if len(data) > subjects.MaxJobFileSize {
		return "", nil, fmt.Errorf("job file %s is larger than %d bytes", path, subjects.MaxJobFileSize)
	}
	return jobName(path, data), data, nil
}

// jobName is the name: field of a job file, or its base name without extension when
// it has none (or is not YAML: the parser then says what is wrong).
func jobName(path string, data []byte) string {
	var head struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(data, &head); err == nil && head.Name != "" {
		return head.Name
	}
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// validationFailed prints a job's validation error, every line of it, and returns 1.
func validationFailed(asJSON bool, name string, err error, stdout, stderr io.Writer) int {
	if asJSON {
		if perr := printJSON(stdout, launchesJSON{Job: name, Error: err.Error()}); perr != nil {
			return fail(stderr, perr)
		}
		return exitError
	}
	// A *job.ValidationError is one line per problem, each naming the job and field.
	fmt.Fprintln(stderr, strings.TrimRight(err.Error(), "\n"))
	return exitError
}

// launches returns the next n launches of j after from, in RFC 3339 in the job's
// time zone; fewer when the schedule ends.
func launches(j *job.Job, from time.Time, n int) []string {
	sched, loc := j.Schedule(), j.Location()
	out := make([]string, 0, n)
	t := from
	for range n {
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(loc).Format(time.RFC3339))
	}
	return out
}

func printLaunches(w io.Writer, ls []string) {
	for _, l := range ls {
		fmt.Fprintln(w, l)
	}
}

// ---- job periodic force, job stop ----

// cmdJobPeriodicForce is `jetcron job periodic force JOB`.
func cmdJobPeriodicForce(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job periodic force", args: "JOB", synopsis: "Asks the ticker that holds the lock to launch a run of JOB now, as Nomad's\n" +
		"`job periodic force`. The job's prohibit_overlap still applies: a run that\n" +
		"would overlap is skipped, and the command says why and exits 1."})
	return c.remote(args, 1, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		name := pos[0]
		reply, err := cl.Force(ctx, name)
		if err != nil {
			return err
		}
		if c.json {
			if err := printJSON(stdout, reply); err != nil {
				return err
			}
			if reply.RunID == "" {
				return exitCode(exitError)
			}
			return nil
		}
		switch {
		case reply.Error != "":
			return fmt.Errorf("force %q: %s", name, reply.Error)
		case reply.Skipped != "":
			fmt.Fprintf(stdout, "Skipped: %s\n", reply.Skipped)
			return exitCode(exitError)
		case reply.RunID != "":
			fmt.Fprintf(stdout, "Run %q launched\n", reply.RunID)
			return nil
		}
		return fmt.Errorf("force %q: the ticker gave an empty answer", name)
	})
}

// cmdJobStop is `jetcron job stop JOB`.
func cmdJobStop(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job stop", args: "JOB", synopsis: "Deletes JOB from the " + subjects.JobsBucket + " bucket, as `nats kv del jobs JOB`: no new run\n" +
		"launches. Runs already running go on to their end."})
	return c.remote(args, 1, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		if err := cl.Stop(ctx, pos[0]); err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, map[string]any{"job": pos[0], "stopped": true})
		}
		fmt.Fprintf(stdout, "Job %q stopped: deleted from the %s bucket, no new run will launch\n", pos[0], subjects.JobsBucket)
		return nil
	})
}
