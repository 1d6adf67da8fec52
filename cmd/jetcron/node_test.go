package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func seedNode(id, name string) subjects.Member {
	return subjects.Member{
		ID: id, Name: name, Datacenter: "dc1",
		Attributes: map[string]string{"attr.unique.hostname": name},
		TTL:        subjects.MillisOf(time.Minute), Heartbeat: time.Now().UTC(),
	}
}

// seedNodes are the blog's three mysql-backup nodes, with full-length IDs.
var seedNodes = []subjects.Member{
	seedNode("8e3abc4a55f14b4fa8e2c2d4a9c6f001", "NODE-2-mysql-backup"),
	seedNode("306dcf6b0c8a4e6d9f1b2a3c4d5e6f70", "NODE-3-mysql-backup"),
	seedNode("6a3109d5aa9b4c1d8e7f6a5b4c3d2e1f", "NODE-1-mysql-backup"),
}

func putNodes(t *testing.T, e *testEnv, nodes ...subjects.Member) {
	t.Helper()
	for _, n := range nodes {
		putJSON(t, e.b.Nodes, subjects.Token(n.Name), n)
	}
}

func getNode(t *testing.T, e *testEnv, name string) subjects.Member {
	t.Helper()
	entry, err := e.b.Nodes.Get(ctxT(t), subjects.Token(name))
	if err != nil {
		t.Fatal(err)
	}
	var m subjects.Member
	if err := json.Unmarshal(entry.Value(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNodeStatusListsNodesSortedByIDAsTheSeed(t *testing.T) {
	e := newTestEnv(t)
	putNodes(t, e, seedNodes...)
	stdout, stderr, code := e.run(cmdNodeStatus)
	want := "" +
		"ID        DC   Name                 Class   Drain  Status\n" +
		"306dcf6b  dc1  NODE-3-mysql-backup  <none>  false  ready\n" +
		"6a3109d5  dc1  NODE-1-mysql-backup  <none>  false  ready\n" +
		"8e3abc4a  dc1  NODE-2-mysql-backup  <none>  false  ready\n"
	if code != exitOK || stderr != "" || stdout != want {
		t.Fatalf("code %d stderr %q, got\n%s\nwant\n%s", code, stderr, stdout, want)
	}
}

func TestNodeStatusShowsClassDrainAndDown(t *testing.T) {
	e := newTestEnv(t)
	a, b, c := seedNodes[0], seedNodes[1], seedNodes[2]
	a.Class, a.Drain = "backup", true
	b.TTL = 0 // heartbeat lapsed
	c.Left = true
	putNodes(t, e, a, b, c)
	stdout, _, code := e.run(cmdNodeStatus)
	want := "" +
		"ID        DC   Name                 Class   Drain  Status\n" +
		"306dcf6b  dc1  NODE-3-mysql-backup  <none>  false  down\n" +
		"6a3109d5  dc1  NODE-1-mysql-backup  <none>  false  down\n" +
		"8e3abc4a  dc1  NODE-2-mysql-backup  backup  true   ready\n"
	if code != exitOK || stdout != want {
		t.Fatalf("got\n%s\nwant\n%s", stdout, want)
	}
}

func TestNodeStatusJSONPrintsFullRecords(t *testing.T) {
	e := newTestEnv(t)
	putNodes(t, e, seedNodes...)
	stdout, _, code := e.run(cmdNodeStatus, "-json")
	var got []struct {
		subjects.Member
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK {
		t.Fatalf("code %d, %v\n%s", code, err, stdout)
	}
	if len(got) != 3 || got[0].ID != seedNodes[1].ID || got[0].Status != "ready" ||
		got[0].Attributes["attr.unique.hostname"] != "NODE-3-mysql-backup" || strings.Contains(stdout, `"leader"`) {
		t.Fatalf("got %+v", got)
	}
}

func TestNodeStatusWithNoNodesPrintsHeaderOnly(t *testing.T) {
	e := newTestEnv(t)
	stdout, _, code := e.run(cmdNodeStatus)
	if code != exitOK || stdout != "ID  DC  Name  Class  Drain  Status\n" {
		t.Fatalf("code %d stdout %q", code, stdout)
	}
}

func TestNodeDrainByNameAndByIDPrefix(t *testing.T) {
	e := newTestEnv(t)
	putNodes(t, e, seedNodes...)

	stdout, stderr, code := e.run(cmdNodeDrain, "-enable", "NODE-1-mysql-backup")
	if code != exitOK || stdout != "Node \"NODE-1-mysql-backup\" drain strategy set\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if m := getNode(t, e, "NODE-1-mysql-backup"); !m.Drain || m.Attributes["attr.unique.hostname"] != "NODE-1-mysql-backup" {
		t.Fatalf("record after drain: %+v", m)
	}

	stdout, _, code = e.run(cmdNodeDrain, "-disable", "6a31")
	if code != exitOK || stdout != "Node \"NODE-1-mysql-backup\" drain disabled\n" {
		t.Fatalf("code %d stdout %q", code, stdout)
	}
	if m := getNode(t, e, "NODE-1-mysql-backup"); m.Drain {
		t.Fatalf("record after disable: %+v", m)
	}
	// The other nodes were left alone.
	if m := getNode(t, e, "NODE-2-mysql-backup"); m.Drain {
		t.Fatalf("NODE-2 drained too")
	}
}

func TestNodeDrainRejectsUnknownAndAmbiguousNodes(t *testing.T) {
	e := newTestEnv(t)
	n1, n2 := seedNode("abc1000000000000", "one"), seedNode("abc2000000000000", "two")
	putNodes(t, e, n1, n2)
	for _, tc := range []struct{ ref, want string }{
		{"nope", `no node is named "nope"`},
		{"abc", `ID prefix "abc" matches 2 nodes: abc10000 (one), abc20000 (two)`},
	} {
		stdout, stderr, code := e.run(cmdNodeDrain, "-enable", tc.ref)
		if code != exitError || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.ref, code, stdout, stderr)
		}
	}
	if _, _, code := e.run(cmdNodeDrain, "-enable", "abc2"); code != exitOK {
		t.Fatalf("unique prefix: code %d", code)
	}
}

func TestNodeDrainSurvivesConcurrentHeartbeats(t *testing.T) {
	e := newTestEnv(t)
	n := seedNodes[0]
	putNodes(t, e, n)

	// A heartbeat writer like the runner's: rewrite the record as fast as it can,
	// keeping whatever Drain it finds (revision-checked).
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		key := subjects.Token(n.Name)
		for ctx.Err() == nil {
			entry, err := e.b.Nodes.Get(ctx, key)
			if err != nil {
				continue
			}
			var m subjects.Member
			_ = json.Unmarshal(entry.Value(), &m)
			m.Heartbeat = time.Now().UTC()
			data, _ := json.Marshal(m)
			_, _ = e.b.Nodes.Update(ctx, key, data, entry.Revision())
		}
	}()
	stdout, stderr, code := e.run(cmdNodeDrain, "-enable", n.Name)
	cancel()
	wg.Wait()
	if code != exitOK {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if m := getNode(t, e, n.Name); !m.Drain {
		t.Fatalf("drain lost: %+v", m)
	}
}
