package subjects

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTripsUnsafeNames(t *testing.T) {
	for _, name := range []string{"web-1", "web-1.example.com", "a b", "*", ">", "jöb", "x=y", "a/b", "UPPER_case-1"} {
		tok := Token(name)
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !isSafeByte(c) && c != '=' {
				t.Errorf("Token(%q) = %q has unsafe byte %q", name, tok, c)
			}
		}
		back, err := ParseToken(tok)
		if err != nil || back != name {
			t.Errorf("ParseToken(Token(%q)) = %q, %v", name, back, err)
		}
	}
}

func TestTokenKeepsSafeNamesAsTheyAre(t *testing.T) {
	if got := Token("NODE-1-mysql-backup"); got != "NODE-1-mysql-backup" {
		t.Fatalf("Token changed a safe name: %q", got)
	}
	if got := Token("web-1.example.com"); got != "web-1=2Eexample=2Ecom" {
		t.Fatalf("Token(web-1.example.com) = %q", got)
	}
}

func TestParseTokenRejectsMalformed(t *testing.T) {
	for _, tok := range []string{"", "a.b", "=4", "=ZZ", "a b"} {
		if _, err := ParseToken(tok); !errors.Is(err, ErrBadName) {
			t.Errorf("ParseToken(%q) err = %v, want ErrBadName", tok, err)
		}
	}
}

func TestRunIDIsNomadsPeriodicChildID(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	id := RunID("mysql-backup", tick)
	if id != "mysql-backup/periodic-1476824400" {
		t.Fatalf("RunID = %q", id)
	}
	job, back, err := ParseRunID(id)
	if err != nil || job != "mysql-backup" || !back.Equal(tick) {
		t.Fatalf("ParseRunID(%q) = %q, %v, %v", id, job, back, err)
	}
	for _, bad := range []string{"mysql-backup", "/periodic-1", "x/periodic-abc"} {
		if _, _, err := ParseRunID(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("ParseRunID(%q) err = %v", bad, err)
		}
	}
}

func TestRunKeyOfMatchesRunKey(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	key, err := RunKeyOf(RunID("mysql-backup", tick))
	if err != nil || key != RunKey("mysql-backup", tick) || key != "mysql-backup.1476824400" {
		t.Fatalf("RunKeyOf = %q, %v", key, err)
	}
}

func TestLaunchSubjectMatchesItsNodesFilterOnly(t *testing.T) {
	subj := LaunchSubject("web-1.example.com", "backup")
	if subj != "runs.launch.web-1=2Eexample=2Ecom.backup" {
		t.Fatalf("LaunchSubject = %q", subj)
	}
	if LaunchFilter("web-1.example.com") != "runs.launch.web-1=2Eexample=2Ecom.>" {
		t.Fatalf("LaunchFilter = %q", LaunchFilter("web-1.example.com"))
	}
	if DurableName("web-1.example.com") != "runner-web-1=2Eexample=2Ecom" {
		t.Fatalf("DurableName = %q", DurableName("web-1.example.com"))
	}
}

func TestForceSubjectRoundTrips(t *testing.T) {
	job, err := JobFromForceSubject(ForceSubject("mysql-backup"))
	if err != nil || job != "mysql-backup" {
		t.Fatalf("JobFromForceSubject = %q, %v", job, err)
	}
}

func TestMsgIDIsRunIDForFirstAllocation(t *testing.T) {
	if MsgID("j/periodic-1", 1) != "j/periodic-1" || MsgID("j/periodic-1", 3) != "j/periodic-1#3" {
		t.Fatalf("MsgID = %q, %q", MsgID("j/periodic-1", 1), MsgID("j/periodic-1", 3))
	}
	if RepublishMsgID("j/periodic-1", 1, 2) != "j/periodic-1~2" {
		t.Fatalf("RepublishMsgID = %q", RepublishMsgID("j/periodic-1", 1, 2))
	}
}

func TestMemberStatusFollowsHeartbeatAge(t *testing.T) {
	now := time.Now()
	m := Member{TTL: MillisOf(5 * time.Second)}
	if m.NodeStatus(now.Add(-4*time.Second), now) != StatusReady || m.NodeStatus(now.Add(-6*time.Second), now) != StatusDown {
		t.Fatal("node status does not follow the heartbeat's age")
	}
	if m.ServerStatus(now.Add(-6*time.Second), now) != StatusFailed {
		t.Fatal("a server with a lapsed heartbeat is not failed")
	}
	m.Left = true
	if m.ServerStatus(now, now) != StatusLeft || m.NodeStatus(now, now) != StatusDown {
		t.Fatal("a member that left is not shown left/down")
	}
}

func TestEventFilterMatchesEveryJobsEventSubject(t *testing.T) {
	if got := EventFilter; got != "runs.event.>" || !strings.HasPrefix(EventSubject("web.1"), strings.TrimSuffix(got, ">")) {
		t.Fatalf("EventFilter %q does not match EventSubject %q", got, EventSubject("web.1"))
	}
}

// matches says whether subject matches the filter (NATS wildcards "*" and ">").
func matches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s) || tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(f) == len(s)
}

func TestLaunchFiltersOfEveryNodeMatchEachNodesLaunches(t *testing.T) {
	for _, node := range []string{"web-1", "web-1.example.com"} {
		if !matches(LaunchFilterAll, LaunchSubject(node, "backup")) {
			t.Errorf("LaunchFilterAll %q does not match %q", LaunchFilterAll, LaunchSubject(node, "backup"))
		}
		if !matches(LaunchFilterAnyNode, LaunchFilter(node)) {
			t.Errorf("LaunchFilterAnyNode %q does not match %q", LaunchFilterAnyNode, LaunchFilter(node))
		}
	}
	if matches(LaunchFilterAll, EventSubject("backup")) {
		t.Errorf("LaunchFilterAll %q matches an event", LaunchFilterAll)
	}
}

func TestNodeRunIDNamesTheTickAndTheNode(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	for _, node := range []string{"web-1", "web-1.example.com", "a/b", "logs"} {
		id := NodeRunID("backup", tick, node)
		if want := "backup/periodic-1476824400/" + node; id != want {
			t.Fatalf("NodeRunID = %q, want %q", id, want)
		}
		job, back, n, err := SplitRunID(id)
		if err != nil || job != "backup" || !back.Equal(tick) || n != node {
			t.Fatalf("SplitRunID(%q) = %q, %v, %q, %v", id, job, back, n, err)
		}
		if job, back, err := ParseRunID(id); err != nil || job != "backup" || !back.Equal(tick) {
			t.Fatalf("ParseRunID(%q) = %q, %v, %v", id, job, back, err)
		}
		key, err := RunKeyOf(id)
		if err != nil || key != NodeRunKey("backup", tick, node) || key != "backup.1476824400."+Token(node) {
			t.Fatalf("RunKeyOf(%q) = %q, %v", id, key, err)
		}
		job, back, n, err = ParseRunKey(key)
		if err != nil || job != "backup" || !back.Equal(tick) || n != node {
			t.Fatalf("ParseRunKey(%q) = %q, %v, %q, %v", key, job, back, n, err)
		}
	}
	if _, _, n, err := SplitRunID(RunID("backup", tick)); err != nil || n != "" {
		t.Fatalf("SplitRunID of a tick's ID: node %q, %v", n, err)
	}
	for _, bad := range []string{"backup/periodic-1/", "backup/periodic-x/n"} {
		if _, _, _, err := SplitRunID(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("SplitRunID(%q) err = %v", bad, err)
		}
	}
	for _, bad := range []string{"backup", "backup.x", "a.1.b.c", "a b.1", "a.1.=ZZ"} {
		if _, _, _, err := ParseRunKey(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("ParseRunKey(%q) err = %v", bad, err)
		}
	}
}

func TestJobRunsFilterMatchesTicksAndNodeRunsOfItsJobOnly(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	f := KVSubject(RunStateBucket, JobRunsFilter("backup"))
	for _, key := range []string{RunKey("backup", tick), NodeRunKey("backup", tick, "web-1.example.com")} {
		if !matches(f, KVSubject(RunStateBucket, key)) {
			t.Errorf("JobRunsFilter does not match %q", key)
		}
	}
	if matches(f, KVSubject(RunStateBucket, RunKey("backup2", tick))) {
		t.Error("JobRunsFilter(backup) matches backup2's runs")
	}
	tf := KVSubject(RunStateBucket, TickRunsFilter("backup", tick))
	if !matches(tf, KVSubject(RunStateBucket, NodeRunKey("backup", tick, "n1"))) ||
		matches(tf, KVSubject(RunStateBucket, RunKey("backup", tick))) ||
		matches(tf, KVSubject(RunStateBucket, NodeRunKey("backup", tick.Add(time.Second), "n1"))) {
		t.Errorf("TickRunsFilter %q matches other than the tick's node runs", tf)
	}
}

func TestMsgIDsOfOneTicksNodeRunsDiffer(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	a, b := MsgID(NodeRunID("j", tick, "a"), 1), MsgID(NodeRunID("j", tick, "b"), 1)
	if a == b || a == MsgID(RunID("j", tick), 1) {
		t.Fatalf("message IDs %q and %q of two nodes' runs of one tick do not differ", a, b)
	}
}
