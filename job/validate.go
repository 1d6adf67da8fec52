package job

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on job fields.
const (
	day                = 24 * time.Hour
	maxCatchupWindow   = 7 * day
	maxRescheduleDelay = day
	maxJitter          = day
	maxCrons           = 32
	maxAttempts        = 100
	maxTimeout         = 30 * day
	maxKillTimeout     = time.Hour
	maxCPU             = 1_000_000  // MHz
	maxMemory          = 10_000_000 // MB
)

// MaxPauseNote is the longest pause_note, in characters.
const MaxPauseNote = 500

// jobName is what a job's key must look like.
var jobName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateKey checks that key can name a job.
func validateKey(p *problems, key string) {
	if jobName.MatchString(key) {
		return
	}
	if key == "" {
		p.addAt("", 0, "the job key is empty")
		return
	}
	for _, r := range key {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			p.addAt("", 0, "job key %q is not a valid job name: %q is not allowed; use letters, digits, \"-\" and \"_\"", key, r)
			return
		}
	}
	p.addAt("", 0, "job key %q is %d characters long; the limit is 64", key, len(key))
}

// defaultJob returns a job holding the defaults that a file's explicit zero
// must not replace, for the file to overwrite. Empty strings get their
// defaults in validate.
func defaultJob() *Job {
	return &Job{
		Priority:   50,
		Periodic:   Periodic{CatchupWindow: Duration(10 * time.Minute)},
		Restart:    Restart{Delay: Duration(15 * time.Second)},
		Reschedule: Reschedule{Attempts: 1, Delay: Duration(5 * time.Second)},
		Task:       Task{KillTimeout: Duration(5 * time.Second)},
	}
}

// validate checks every field of a job stored under key, records each
// problem in p, and sets the derived fields. When now is not zero, a cron
// expression that never fires after now is a problem.
func (j *Job) validate(p *problems, key string, now time.Time) {
	if j.Name != "" && j.Name != key {
		p.addf("name", "name %q does not match the job's key %q; leave it out or make them equal", j.Name, key)
	}
	j.Name = key
	for i, dc := range j.Datacenters {
		if _, err := path.Match(dc, ""); dc == "" || err != nil {
			p.addf(fmt.Sprintf("datacenters[%d]", i), "%q is not a datacenter name or glob such as \"dc*\"", dc)
		}
	}
	if j.Type == "" {
		j.Type = TypeBatch
	}
	if j.Type != TypeBatch && j.Type != TypeSysbatch {
		p.addf("type", "type %q is not supported; the types are %q and %q", j.Type, TypeBatch, TypeSysbatch)
	}
	if j.Priority < 1 || j.Priority > 100 {
		p.addf("priority", "%d is out of range 1-100", j.Priority)
	}
	for i := range j.Constraints {
		j.Constraints[i].validate(p, fmt.Sprintf("constraints[%d]", i))
	}
	j.validatePeriodic(p, now)
	checkInt(p, "restart.attempts", j.Restart.Attempts, maxAttempts)
	checkDuration(p, "restart.delay", j.Restart.Delay, maxRescheduleDelay)
	checkInt(p, "reschedule.attempts", j.Reschedule.Attempts, maxAttempts)
	checkDuration(p, "reschedule.delay", j.Reschedule.Delay, maxRescheduleDelay)
	j.Task.validate(p, key)
	for i := range j.Notify {
		j.Notify[i].validate(p, fmt.Sprintf("notify[%d]", i))
	}
	j.validatePause(p)
}

// validatePause checks the pause note: one line a person wrote, of bounded length.
func (j *Job) validatePause(p *problems) {
	if j.PauseNote != "" && !j.Paused {
		p.addf("pause_note", "is set but the job is not paused; set paused: true or leave the note out")
		return
	}
	if err := CheckPauseNote(j.PauseNote); err != nil {
		p.addf("pause_note", "%s", err)
	}
}

// CheckPauseNote says what is wrong with a pause note (nil when nothing is): at most
// MaxPauseNote characters, on one line, without control characters. `jetcron job
// pause -note` checks its note with it before writing anything.
func CheckPauseNote(note string) error {
	switch n := utf8.RuneCountInString(note); {
	case n > MaxPauseNote:
		return fmt.Errorf("is %d characters long; the limit is %d", n, MaxPauseNote)
	case strings.ContainsFunc(note, unicode.IsControl):
		return errors.New("contains a control character (a line break?); write the note on one line")
	}
	return nil
}

// PauseReason is the reason the ticker records for each tick of the job while it is
// paused, and the plan shows: "paused: NOTE", or "paused" without a note; "" when
// the job is not paused.
func (j *Job) PauseReason() string {
	switch {
	case !j.Paused:
		return ""
	case j.PauseNote == "":
		return "paused"
	}
	return "paused: " + j.PauseNote
}

// IsPauseReason reports whether a skipped run's reason is a PauseReason.
func IsPauseReason(reason string) bool {
	return reason == "paused" || strings.HasPrefix(reason, "paused: ")
}

// locations caches loaded time zones: time.LoadLocation reads and parses the zone
// database on every call, and a cluster may hold 100,000 jobs in a few zones.
var locations sync.Map // name → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}

// validatePeriodic checks the periodic block and sets the job's location and
// schedule.
func (j *Job) validatePeriodic(p *problems, now time.Time) {
	pd := &j.Periodic
	if pd.TimeZone == "" {
		pd.TimeZone = "UTC"
	}
	loc, err := loadLocation(pd.TimeZone)
	switch {
	case pd.TimeZone == "Local":
		p.addf("periodic.time_zone", "\"Local\" depends on the host; name the zone, e.g. \"Europe/Berlin\"")
		loc = time.UTC
	case err != nil:
		p.addf("periodic.time_zone", "unknown time zone %q; use an IANA name such as \"UTC\" or \"America/New_York\"", pd.TimeZone)
		loc = time.UTC
	}
	j.location = loc
	switch {
	case len(pd.Crons) > 0 && pd.Cron != "":
		p.addf("periodic.crons", "periodic.cron and periodic.crons are both set; set one of them")
	case len(pd.Crons) > maxCrons:
		p.addf("periodic.crons", "holds %d expressions; the limit is %d", len(pd.Crons), maxCrons)
	case len(pd.Crons) > 0:
		var union unionSchedule
		for i, expr := range pd.Crons {
			s, err := parseSchedule(expr, loc, now)
			if err != nil {
				p.addf(fmt.Sprintf("periodic.crons[%d]", i), "%v", err)
				continue
			}
			union = append(union, s)
		}
		j.schedule = union
	case strings.TrimSpace(pd.Cron) == "":
		p.addf("periodic.cron", "is required (or periodic.crons, a list of expressions)")
	default:
		if j.schedule, err = parseSchedule(pd.Cron, loc, now); err != nil {
			p.addf("periodic.cron", "%v", err)
		}
	}
	checkDuration(p, "periodic.jitter", pd.Jitter, maxJitter)
	checkDuration(p, "periodic.catchup_window", pd.CatchupWindow, maxCatchupWindow)
	if pd.Catchup == "" {
		pd.Catchup = "all"
	}
	if pd.Catchup != "all" && pd.Catchup != "latest" {
		p.addf("periodic.catchup", "%q is not \"all\" or \"latest\"", pd.Catchup)
	}
}

// checkDuration records a problem if d is negative or over limit.
func checkDuration(p *problems, field string, d Duration, limit time.Duration) {
	switch {
	case d < 0:
		p.addf(field, "%s is negative; use 0s to %s", d, Duration(limit))
	case time.Duration(d) > limit:
		p.addf(field, "%s is over the limit of %s", d, Duration(limit))
	}
}

// checkInt records a problem if n is negative or over limit.
func checkInt(p *problems, field string, n, limit int) {
	switch {
	case n < 0:
		p.addf(field, "%d is negative; use 0 to %d", n, limit)
	case n > limit:
		p.addf(field, "%d is over the limit of %d", n, limit)
	}
}
