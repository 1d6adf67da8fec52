package operator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestRunReasonIsTheRunsReasonElseItsAllocationsError(t *testing.T) {
	for _, tc := range []struct {
		run  subjects.Run
		want string
	}{
		{subjects.Run{State: subjects.StateSkipped, Reason: "no eligible node"}, "no eligible node"},
		{subjects.Run{State: subjects.StateFailed, Allocations: []subjects.Allocation{{Error: "old"}, {Error: "timed out after 3s"}}}, "timed out after 3s"},
		{subjects.Run{State: subjects.StateComplete, Allocations: []subjects.Allocation{{}}}, ""},
		{subjects.Run{State: subjects.StateQueued}, ""},
	} {
		if got := RunReason(&tc.run); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.run, got, tc.want)
		}
	}
}

func TestFindNodeByNameThenByUniqueIDPrefix(t *testing.T) {
	nodes := []MemberView{
		{Member: subjects.Member{ID: "aaaa1111", Name: "web-1"}},
		{Member: subjects.Member{ID: "aaaa2222", Name: "web-2"}},
		{Member: subjects.Member{ID: "bbbb3333", Name: "aaaa1111"}},
	}
	if n, err := FindNode(nodes, "aaaa1111"); err != nil || n.Name != "aaaa1111" {
		t.Errorf("a name wins over an ID prefix: %v %v", n, err)
	}
	if n, err := FindNode(nodes, "aaaa2"); err != nil || n.Name != "web-2" {
		t.Errorf("unique prefix: %v %v", n, err)
	}
	if _, err := FindNode(nodes, "aaaa"); err == nil || !strings.Contains(err.Error(), "matches 2 nodes") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := FindNode(nodes, "zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown node: %v, want ErrNotFound", err)
	}
}

func TestMetaLeaderIsTheOneMostAliveServersReport(t *testing.T) {
	view := func(status, leader string) MemberView {
		return MemberView{Member: subjects.Member{MetaLeader: leader}, Status: status}
	}
	servers := []MemberView{
		view(subjects.StatusAlive, "s2"), view(subjects.StatusAlive, "s2"), view(subjects.StatusAlive, "s1"),
		view(subjects.StatusFailed, "s3"), view(subjects.StatusFailed, "s3"), view(subjects.StatusFailed, "s3"),
	}
	if got := MetaLeader(servers); got != "s2" {
		t.Fatalf("got %q, want s2 (failed servers' views do not count)", got)
	}
}

func TestParseRunKeyReadsBackRunKey(t *testing.T) {
	key := subjects.RunKey("web.backup", time.Unix(1476824400, 0))
	rk, ok := parseRunKey(key)
	if !ok || rk.tick != 1476824400 || rk.token != subjects.Token("web.backup") {
		t.Fatalf("%q: %+v %v", key, rk, ok)
	}
	if _, ok := parseRunKey("no-tick"); ok {
		t.Fatal("a key without a tick was read")
	}
	key = subjects.NodeRunKey("web.backup", time.Unix(1476824400, 0), "n1.example.com")
	rk, ok = parseRunKey(key)
	if !ok || rk.tick != 1476824400 || rk.token != subjects.Token("web.backup") || rk.node != subjects.Token("n1.example.com") {
		t.Fatalf("%q: %+v %v", key, rk, ok)
	}
	for _, bad := range []string{"j.1.", "j.x.n", ".1"} {
		if _, ok := parseRunKey(bad); ok {
			t.Fatalf("%q was read as a run key", bad)
		}
	}
}

func TestValidKeyFollowsNATSKVRules(t *testing.T) {
	for key, want := range map[string]bool{"backup": true, "backup.v2": true, "a/b=c": true, "": false, ".x": false, "x.": false, "a b": false} {
		if got := ValidKey(key); got != want {
			t.Errorf("%q: %v, want %v", key, got, want)
		}
	}
}

func TestHTTPStatusOfAnError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("job %q %w", "x", ErrNotFound), 404},
		{fmt.Errorf("limit -1: %w", ErrInvalid), 400},
		{fmt.Errorf("run ID %q: %w", "x", subjects.ErrBadName), 400},
		{errors.New("bucket jetcron-runs: no answer from JetStream"), 503},
	} {
		if got := HTTPStatus(tc.err); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
}
