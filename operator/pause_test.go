package operator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// backupFile is a job file with comments and fields in an order of its own.
const backupFile = `# nightly backup; ask the DBAs before changing it
task:
  config:
    command: /usr/local/bin/mysql-backup.sh  # the script
    args: ["--host", "${attr.unique.hostname}"]
periodic:
  prohibit_overlap: true
  cron: "0 2 * * *"
datacenters: [dc1]
`

// newTestClient starts a one-server cluster with jetcron's buckets and returns a
// Client on it and the buckets.
func newTestClient(t *testing.T) (*Client, *subjects.Buckets) {
	t.Helper()
	e := buckettest.New(t)
	return New(e.NC, e.JS, e.Cluster.URLs()), e.Buckets
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stored reads job's file and revision from the jobs bucket.
func stored(t *testing.T, b *subjects.Buckets, name string) (string, uint64) {
	t.Helper()
	e, err := b.Jobs.Get(testCtx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Value()), e.Revision()
}

func TestPauseWritesPausedAndTheNoteAndKeepsTheRestOfTheFile(t *testing.T) {
	cl, b := newTestClient(t)
	ctx := testCtx(t)
	if _, err := b.Jobs.Put(ctx, "backup", []byte(backupFile)); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Pause(ctx, "backup", "db migration, INC-42")
	if err != nil {
		t.Fatal(err)
	}
	file, rev := stored(t, b, "backup")
	if !res.Changed || !res.Paused || res.WasPaused || res.Revision != rev || rev != 2 {
		t.Errorf("result %+v, stored revision %d", res, rev)
	}
	for _, line := range []string{"# nightly backup; ask the DBAs before changing it\n", "command: /usr/local/bin/mysql-backup.sh # the script\n",
		"  prohibit_overlap: true\n  cron: \"0 2 * * *\"\n", "datacenters: [dc1]\npaused: true\npause_note: db migration, INC-42\n"} {
		if !strings.Contains(file, line) {
			t.Errorf("stored file lacks %q:\n%s", line, file)
		}
	}
	if j, err := job.Parse("backup", []byte(file)); err != nil || !j.Paused || j.PauseNote != "db migration, INC-42" {
		t.Fatalf("stored file: %v %+v", err, j)
	}

	// Pausing again replaces the note; with the same note, writes nothing.
	if res, err = cl.Pause(ctx, "backup", "until Monday"); err != nil || !res.Changed || !res.WasPaused || res.PreviousNote != "db migration, INC-42" {
		t.Fatalf("second pause: %+v %v", res, err)
	}
	if file, _ = stored(t, b, "backup"); strings.Contains(file, "INC-42") || !strings.Contains(file, "pause_note: until Monday\n") {
		t.Fatalf("the note was not replaced:\n%s", file)
	}
	_, before := stored(t, b, "backup")
	if res, err = cl.Pause(ctx, "backup", "until Monday"); err != nil || res.Changed || res.Revision != before {
		t.Fatalf("same pause again: %+v %v", res, err)
	}

	// Resume removes both keys, and gives back the file as it was.
	if res, err = cl.Resume(ctx, "backup"); err != nil || !res.Changed || res.Paused || !res.WasPaused || res.PreviousNote != "until Monday" {
		t.Fatalf("resume: %+v %v", res, err)
	}
	file, rev = stored(t, b, "backup")
	if strings.Contains(file, "paused") || strings.Contains(file, "pause_note") {
		t.Fatalf("resumed file still pauses:\n%s", file)
	}
	if want := strings.Replace(backupFile, "mysql-backup.sh  # the", "mysql-backup.sh # the", 1); file != want {
		t.Errorf("resumed file\n%s\nwant the original\n%s", file, want)
	}
	// Resuming a job that is not paused changes nothing.
	if res, err = cl.Resume(ctx, "backup"); err != nil || res.Changed || res.WasPaused || res.Revision != rev {
		t.Fatalf("resume of a running job: %+v %v", res, err)
	}
	if _, after := stored(t, b, "backup"); after != rev {
		t.Fatalf("resume of a running job wrote revision %d", after)
	}
}

func TestPauseRefusesWithoutWriting(t *testing.T) {
	cl, b := newTestClient(t)
	ctx := testCtx(t)
	if _, err := b.Jobs.Put(ctx, "backup", []byte(backupFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Jobs.Put(ctx, "broken", []byte(strings.Replace(backupFile, `"0 2 * * *"`, `"0 2 * *"`, 1))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, job, note string
		is              error
		want            string
	}{
		{"a note over 500 characters", "backup", strings.Repeat("x", 501), ErrInvalid, "pause note: is 501 characters long; the limit is 500"},
		{"a note on two lines", "backup", "db\nmigration", ErrInvalid, "pause note: contains a control character (a line break?)"},
		{"no such job", "nope", "", ErrNotFound, `job "nope" not found`},
		{"a key that cannot be a job", "a b", "", ErrNotFound, `job "a b" not found`},
		{"a stored file that is invalid", "broken", "", job.ErrInvalid, `job "broken": its stored file is invalid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rev := stored(t, b, "backup")
			_, err := cl.Pause(ctx, tc.job, tc.note)
			if !errors.Is(err, tc.is) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q (%v)", err, tc.want, tc.is)
			}
			if _, after := stored(t, b, "backup"); after != rev {
				t.Fatalf("revision %d after a refused pause, was %d", after, rev)
			}
		})
	}
	if _, err := cl.Resume(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resume of no job: %v", err)
	}
}

func TestPauseReadsAgainWhenAnotherWriteCameBetweenItsReadAndItsWrite(t *testing.T) {
	cl, b := newTestClient(t)
	ctx := testCtx(t)
	if _, err := b.Jobs.Put(ctx, "backup", []byte(backupFile)); err != nil {
		t.Fatal(err)
	}
	// Another operator changes the job's priority after the pause read the file.
	edited := backupFile + "priority: 70\n"
	var tries []int
	cl.beforePauseWrite = func(try int) {
		tries = append(tries, try)
		if try == 1 {
			if _, err := b.Jobs.Put(ctx, "backup", []byte(edited)); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := cl.Pause(ctx, "backup", "db migration")
	if err != nil {
		t.Fatal(err)
	}
	if len(tries) != 2 || res.Revision != 3 {
		t.Fatalf("tries %v, result %+v: want a second try after the conflict, writing revision 3", tries, res)
	}
	file, _ := stored(t, b, "backup")
	j, err := job.Parse("backup", []byte(file))
	if err != nil || j.Priority != 70 || !j.Paused || j.PauseNote != "db migration" {
		t.Fatalf("the concurrent edit or the pause was lost: %v\n%s", err, file)
	}

	// A job that changes under every try (another paused version each time): the
	// resume gives up, saying so, and writes nothing of its own.
	n := 0
	cl.beforePauseWrite = func(int) {
		n++
		other := strings.Replace(edited, "priority: 70", "priority: "+string(rune('1'+n)), 1) + "paused: true\n"
		if _, err := b.Jobs.Put(ctx, "backup", []byte(other)); err != nil {
			t.Error(err)
		}
	}
	_, err = cl.Resume(ctx, "backup")
	if err == nil || !strings.Contains(err.Error(), "changed under each of 5 tries") || n != pauseTries {
		t.Fatalf("error %v after %d tries", err, n)
	}
	if file, _ = stored(t, b, "backup"); !strings.Contains(file, "priority: 6\npaused: true\n") {
		t.Fatalf("stored after giving up:\n%s", file)
	}
}
