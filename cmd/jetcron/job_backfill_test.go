package main

import (
	"strings"
	"testing"
)

func TestJobBackfillRefusesABadRangeNamingItAndChangesNothing(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-to", "2026-01-02T00:00:00Z", "mysql-backup"}, exitUsage, "Error: -from is required\n"},
		{[]string{"-from", "yesterday", "-to", "2026-01-02T00:00:00Z", "mysql-backup"}, exitUsage, "Error: -from \"yesterday\": want RFC 3339"},
		{[]string{"-from", "2026-01-03T00:00:00Z", "-to", "2026-01-02T00:00:00Z", "mysql-backup"}, exitUsage, "Error: -from 2026-01-03T00:00:00Z is after -to 2026-01-02T00:00:00Z\n"},
		{[]string{"-from", "2026-01-01T00:00:00Z", "-to", "2999-01-02T00:00:00Z", "mysql-backup"}, exitUsage, "Error: -to 2999-01-02T00:00:00Z is in the future: backfill launches past ticks only"},
		{[]string{"-from", "2026-01-01T00:00:00Z", "-to", "2026-01-02T00:00:00Z", "nope"}, exitError, "Error: job \"nope\" not found\n"},
		{[]string{"-from", "2026-01-01T00:00:00Z", "-to", "2026-01-02T00:00:00Z"}, exitUsage, "Error: "},
	} {
		stdout, stderr, code := e.run(cmdJobBackfill, tc.args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: code %d stdout %q stderr %q, want %d %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
	if st, err := e.b.Runs.Status(ctxT(t)); err != nil || st.Values() != 0 {
		t.Fatalf("run records after refused backfills: %v %v, want none", st, err)
	}
}
