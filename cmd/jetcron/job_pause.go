package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdJobPause is `jetcron job pause JOB [-note TEXT]`.
func cmdJobPause(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job pause", args: "JOB", synopsis: "Pauses JOB, as Kubernetes' suspend: sets paused: true (and pause_note: TEXT)\n" +
		"in its file in the " + subjects.JobsBucket + " bucket, which keeps it through restarts and leader\n" +
		"changes. While paused, each tick is recorded skipped with reason \"paused: TEXT\";\n" +
		"runs under way go on. Pausing a paused job replaces its note. The rest of the\n" +
		"file, comments included, stays; a write in between is never lost (the file is\n" +
		"read again). `jetcron job resume JOB`, or a `job run` of a file without paused,\n" +
		"ends the pause."})
	note := c.fs.String("note", "", fmt.Sprintf("why the job is paused: one line, at most %d characters; shown by job status and in each skipped run", job.MaxPauseNote))
	check := func([]string) error {
		if err := job.CheckPauseNote(*note); err != nil {
			return fmt.Errorf("-note %v; nothing was written", err)
		}
		return nil
	}
	return c.remote(args, 1, 1, stdout, stderr, check, func(ctx context.Context, cl *client, pos []string) error {
		res, err := cl.Pause(ctx, pos[0], *note)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, res)
		}
		switch {
		case !res.Changed:
			fmt.Fprintf(stdout, "Job %q is paused already, with that note; nothing changed\n", res.Job)
		case res.WasPaused && res.PauseNote == "":
			fmt.Fprintf(stdout, "Job %q was paused already (%s); its note is removed (revision %d)\n",
				res.Job, noteOrNone(res.PreviousNote), res.Revision)
		case res.WasPaused:
			fmt.Fprintf(stdout, "Job %q was paused already (%s); its note is now %q (revision %d)\n",
				res.Job, noteOrNone(res.PreviousNote), res.PauseNote, res.Revision)
		default:
			fmt.Fprintf(stdout, "Job %q paused (revision %d): each tick is recorded skipped with reason %q until `jetcron job resume %s`\n",
				res.Job, res.Revision, pauseReason(res.PauseNote), res.Job)
		}
		return nil
	})
}

// cmdJobResume is `jetcron job resume JOB`.
func cmdJobResume(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "job resume", args: "JOB", synopsis: "Resumes a paused JOB: removes paused and pause_note from its file in the\n" +
		subjects.JobsBucket + " bucket. The ticks after that write launch; those of the pause stay\n" +
		"skipped (nothing of the paused span is caught up). Resuming a job that is not\n" +
		"paused changes nothing, says so and exits 0."})
	return c.remote(args, 1, 1, stdout, stderr, nil, func(ctx context.Context, cl *client, pos []string) error {
		res, err := cl.Resume(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, res)
		}
		if !res.Changed {
			fmt.Fprintf(stdout, "Job %q is not paused; nothing changed\n", res.Job)
			return nil
		}
		fmt.Fprintf(stdout, "Job %q resumed (it was paused: %s; revision %d): the ticks from now on launch, those of the pause stay skipped\n",
			res.Job, noteOrNone(res.PreviousNote), res.Revision)
		return nil
	})
}

// resumeNotice says that storing a file without paused over a paused job resumes
// it; "" when the job was not paused or the new file pauses it too.
func resumeNotice(name string, wasPaused bool, note string, next *job.Job) string {
	if !wasPaused || next.Paused {
		return ""
	}
	return fmt.Sprintf("job %q was paused (%s); this file resumes it (add paused: true to keep it paused)", name, noteOrNone(note))
}

// pauseReason is the reason the ticker records for a paused job's ticks.
func pauseReason(note string) string {
	return (&job.Job{Paused: true, PauseNote: note}).PauseReason()
}

// noteOrNone quotes a pause note, or says there is none.
func noteOrNone(note string) string {
	if note == "" {
		return "no note"
	}
	return fmt.Sprintf("%q", note)
}

// pauseFields are the job status lines of a paused job's note.
func pauseFields(v *operator.JobView) [][2]string {
	if paused, note := v.Pause(); paused && note != "" {
		return [][2]string{{"Pause Note", note}}
	}
	return nil
}
