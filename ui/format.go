package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// funcs are the helpers the templates call.
var funcs = template.FuncMap{
	// outcome takes a run's state or a job's last result (a string).
	"outcome":  func(state any) string { return outcomeClass(subjects.RunState(fmt.Sprint(state))) },
	"status":   statusClass,
	"label":    label,
	"when":     when,
	"rel":      rel,
	"span":     span,
	"jobURL":   jobURL,
	"runURL":   runURL,
	"shortID":  subjects.ShortID,
	"exitCode": exitCode,
	"tick":     func(r *subjects.Run) time.Time { return time.Unix(r.Scheduled, 0) },
	"delay":    func(r subjects.Run) time.Duration { return startDelay(&r) },
	"reason":   func(r subjects.Run) string { return operator.RunReason(&r) },
}

// outcomeClass is the CSS class, and so the colour, of a run's state: ok for a
// success, bad for a failure, warn for a run lost with its node, muted for a skipped
// tick, live for a run under way, none for no run at all.
func outcomeClass(state subjects.RunState) string {
	switch state {
	case subjects.StateComplete:
		return "ok"
	case subjects.StateFailed:
		return "bad"
	case subjects.StateLost:
		return "warn"
	case subjects.StateSkipped:
		return "muted"
	case subjects.StateQueued, subjects.StateRunning, subjects.StateLaunched:
		return "live"
	}
	return "none"
}

// outcomeClasses maps each run state to its class, as JSON, for the script that
// follows a run and colours its state as it changes.
func outcomeClasses() string {
	m := map[subjects.RunState]string{}
	for _, s := range []subjects.RunState{subjects.StateQueued, subjects.StateRunning, subjects.StateComplete,
		subjects.StateFailed, subjects.StateLost, subjects.StateSkipped, subjects.StateLaunched} {
		m[s] = outcomeClass(s)
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// statusClass is the CSS class of a job's or a member's status: ok for a job that
// launches and a member that is up, warn for a paused job, bad for an invalid job and
// a member that is down, muted for a stopped job and a server that left.
func statusClass(status string) string {
	switch status {
	case operator.JobRunning, subjects.StatusReady, subjects.StatusAlive:
		return "ok"
	case operator.JobPaused:
		return "warn"
	case operator.JobInvalid, subjects.StatusDown, subjects.StatusFailed:
		return "bad"
	}
	return "muted"
}

// label is how a page names a job status or a filter of the job list: a job that
// launches is "valid" (its status is "running", as Nomad's, in the CLI and the JSON,
// where it cannot be taken for a run), a filter on the last result "last run failed",
// NoNode "no node eligible"; the rest as is.
func label(status string) string {
	switch subjects.RunState(status) {
	case subjects.StateComplete, subjects.StateFailed, subjects.StateLost, subjects.StateSkipped:
		return "last run " + status
	}
	switch status {
	case operator.JobRunning:
		return "valid"
	case operator.NoNode:
		return "no node eligible"
	}
	return status
}

// when is t in UTC to the second, "-" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// rel says how far t is from now in its two largest units: "in 4m 12s", "3h 5m ago",
// "now" within a second; "" for the zero time.
func rel(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	if d < time.Second {
		return "now"
	}
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var parts []string
	for _, u := range units {
		if n := d / u.d; n > 0 && len(parts) < 2 {
			parts = append(parts, strconv.FormatInt(int64(n), 10)+u.name)
			d -= n * u.d
		} else if len(parts) > 0 {
			break
		}
	}
	if future {
		return "in " + strings.Join(parts, " ")
	}
	return strings.Join(parts, " ") + " ago"
}

// span is a duration as a person reads it: milliseconds below a second, tenths of a
// second below a minute, else whole seconds; "-" for a negative one (not known).
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// exitCode is an allocation's exit code, "-" when its process never exited by
// itself (or has not yet).
func exitCode(a *subjects.Allocation) string {
	if a == nil || a.ExitCode == nil {
		return "-"
	}
	return strconv.Itoa(*a.ExitCode)
}

// escapedPath is p with each segment escaped as a URL path needs ("/" kept).
func escapedPath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// jobURL is the page of the job name.
func jobURL(name string) string { return escapedPath(Prefix + "job/" + name) }

// runURL is the page of the run id.
func runURL(id string) string { return escapedPath(Prefix + "run/" + id) }

// followURL is the stream of the run id's output (Server-Sent Events).
func followURL(id string) string { return escapedPath("/v1/run/"+id+"/logs") + "?follow=1" }

// listURL is the job list's page of q: its filter and, when not the defaults, its
// offset and page size.
func listURL(q operator.JobQuery) string {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != operator.DefaultPageSize {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return Prefix
	}
	return Prefix + "?" + v.Encode()
}

// planURL is the plan's page of job's ticks (every job's when "") in [from,
// from+window).
func planURL(job string, from time.Time, window time.Duration) string {
	v := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "next": {window.String()}}
	if job != "" {
		v.Set("job", job)
	}
	return Prefix + "plan?" + v.Encode()
}

// pageLinks are the job list's links to the pages before and after q's (q checked,
// total jobs matched), keeping its filter; "" where there is none.
func pageLinks(q operator.JobQuery, total int) (prev, next string) {
	if q.Offset > 0 {
		p := q
		p.Offset = max(0, q.Offset-q.Limit)
		prev = listURL(p)
	}
	if q.Offset+q.Limit < total {
		n := q
		n.Offset = q.Offset + q.Limit
		next = listURL(n)
	}
	return prev, next
}

// shellSafe are the words a POSIX shell reads as they are.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:@%+,-]+$`)

// shellQuote is s as one word of a POSIX shell command line.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// jobCommands are the CLI commands that act on a job of status, for its page: the
// UI changes nothing itself. A stopped job has none.
func jobCommands(name, status string, paused bool) []string {
	if status == operator.JobDead {
		return nil
	}
	n := shellQuote(name)
	cmds := []string{"jetcron job periodic force " + n}
	if paused {
		cmds = append(cmds, "jetcron job resume "+n)
	} else {
		cmds = append(cmds, "jetcron job pause "+n+" -note 'why'")
	}
	return append(cmds, "jetcron job plan "+n, "jetcron job stop "+n)
}

// runCommands are the CLI commands that show a run; its output is followed while it
// has not ended.
func runCommands(id string, ended bool) []string {
	logs := "jetcron run logs " + shellQuote(id)
	if !ended {
		logs = "jetcron run logs -f " + shellQuote(id)
	}
	return []string{"jetcron job status " + shellQuote(id), logs}
}

// drainCommand is the CLI command that drains the node, or lets runs back on it.
func drainCommand(name string, draining bool) string {
	if draining {
		return "jetcron node drain -disable " + shellQuote(name)
	}
	return "jetcron node drain -enable " + shellQuote(name)
}

// count is n with thousands separated by commas.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
