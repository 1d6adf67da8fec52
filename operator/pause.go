package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// pauseTries bounds the revision-checked writes of a pause or resume: each one that
// loses to a concurrent write of the job reads the job again and tries again.
const pauseTries = 5

// PauseResult is what Pause and Resume did (`job pause -json`, `job resume -json`).
type PauseResult struct {
	Job string `json:"job"`
	// Paused and PauseNote are the job's pause after the command.
	Paused    bool   `json:"paused"`
	PauseNote string `json:"pause_note,omitempty"`
	// WasPaused and PreviousNote are its pause before.
	WasPaused    bool   `json:"was_paused"`
	PreviousNote string `json:"previous_note,omitempty"`
	// Changed is false when the job already was as asked (a resume of a job that is
	// not paused, a pause with the note it has): nothing was written.
	Changed bool `json:"changed"`
	// Revision is the job's revision in the jobs bucket after the command.
	Revision uint64 `json:"revision"`
}

// Pause pauses job: its file in the jobs bucket gets `paused: true` and, unless note
// is empty, `pause_note: NOTE` (a job paused already gets the new note). While it
// is paused, the ticker records every tick skipped with reason "paused: NOTE". The
// error wraps ErrNotFound when there is no such job, ErrInvalid when the note is
// not one line of at most job.MaxPauseNote characters.
func (c *Client) Pause(ctx context.Context, name, note string) (*PauseResult, error) {
	if err := job.CheckPauseNote(note); err != nil {
		return nil, invalidf("pause note: %v", err)
	}
	return c.setPause(ctx, name, true, note)
}

// Resume removes the pause from job's file: the ticks after the write launch; those
// of the paused span stay skipped. A job that is not paused is left as it is
// (Changed false). The error wraps ErrNotFound when there is no such job.
func (c *Client) Resume(ctx context.Context, name string) (*PauseResult, error) {
	return c.setPause(ctx, name, false, "")
}

// setPause reads job's file and its revision, sets the pause in it, and writes it
// back with a revision-checked update; when another write came in between, it reads
// the file again and starts over, at most pauseTries times. Nothing is written
// unless the stored file and the result are valid jobs.
func (c *Client) setPause(ctx context.Context, name string, paused bool, note string) (*PauseResult, error) {
	if !ValidKey(name) {
		return nil, fmt.Errorf("job %q %w", name, ErrNotFound)
	}
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		e, err := kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("job %q %w", name, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read job %q: %w", name, err)
		}
		cur, err := job.Parse(name, e.Value())
		if err != nil {
			return nil, fmt.Errorf("job %q: its stored file is invalid (the ticker runs its last valid version, which only a valid file can pause or resume); store a valid one with `jetcron job run`: %w", name, err)
		}
		res := &PauseResult{Job: name, Paused: paused, PauseNote: note, WasPaused: cur.Paused, PreviousNote: cur.PauseNote, Revision: e.Revision()}
		if cur.Paused == paused && cur.PauseNote == note {
			return res, nil
		}
		data, err := job.SetPause(e.Value(), paused, note)
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", name, err)
		}
		next, err := job.Parse(name, data)
		if err != nil {
			return nil, fmt.Errorf("job %q: the file with the pause changed would be invalid: %w", name, err)
		}
		if next.Paused != paused || next.PauseNote != note {
			return nil, fmt.Errorf("job %q: the file's pause could not be changed (paused %v, pause_note %q after the edit): edit it and store it with `jetcron job run`", name, next.Paused, next.PauseNote)
		}
		if c.beforePauseWrite != nil {
			c.beforePauseWrite(try)
		}
		rev, err := kv.Update(ctx, name, data, e.Revision())
		if err == nil {
			res.Changed, res.Revision = true, rev
			return res, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, fmt.Errorf("write job %q: %w", name, err)
		}
		if try == pauseTries {
			return nil, fmt.Errorf("job %q changed under each of %d tries (another write came between the read and the write every time): nothing written; try again", name, pauseTries)
		}
	}
}

// PauseOf says whether job's stored file is paused, and with what note: false for
// a job that does not exist or whose file is invalid. `jetcron job run` reads it
// before it replaces a job, to say when the new file resumes it.
func (c *Client) PauseOf(ctx context.Context, name string) (paused bool, note string, err error) {
	if !ValidKey(name) {
		return false, "", nil
	}
	kv, err := c.Bucket(ctx, subjects.JobsBucket)
	if err != nil {
		return false, "", err
	}
	e, err := kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read job %q: %w", name, err)
	}
	cur, err := job.Parse(name, e.Value())
	if err != nil {
		return false, "", nil
	}
	return cur.Paused, cur.PauseNote, nil
}
