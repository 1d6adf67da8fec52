package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

func seedServer(n, addr string) subjects.Member {
	return subjects.Member{
		ID: strings.Repeat(n, 32), Name: "NODE-" + n + "-nomad-server", Datacenter: "dc1", Region: "global",
		Address: addr, Port: 6222, Build: "0.4.1", Protocol: 1,
		TTL: subjects.MillisOf(time.Minute), Heartbeat: time.Now().UTC(),
	}
}

func TestServerMembersTableLooksLikeNomads(t *testing.T) {
	yes, no := true, false
	servers := []operator.MemberView{
		{Member: seedServer("1", "172.17.5.129"), Status: "alive", Leader: &yes},
		{Member: seedServer("2", "172.17.5.127"), Status: "alive", Leader: &no},
		{Member: seedServer("3", "172.17.5.126"), Status: "failed", Leader: &no},
	}
	var b bytes.Buffer
	writeServerMembers(&b, servers)
	want := "" +
		"Name                        Address       Port  Status  Leader  Protocol  Build  Datacenter  Region\n" +
		"NODE-1-nomad-server.global  172.17.5.129  6222  alive   true    1         0.4.1  dc1         global\n" +
		"NODE-2-nomad-server.global  172.17.5.127  6222  alive   false   1         0.4.1  dc1         global\n" +
		"NODE-3-nomad-server.global  172.17.5.126  6222  failed  false   1         0.4.1  dc1         global\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestServerMembersShowsStatusAndLockHolderAsLeader(t *testing.T) {
	e := newTestEnv(t)
	s1, s2, s3 := seedServer("1", "172.17.5.129"), seedServer("2", "172.17.5.127"), seedServer("3", "172.17.5.126")
	s3.Left = true
	for _, s := range []subjects.Member{s3, s1, s2} {
		putJSON(t, e.b.Servers, subjects.Token(s.Name), s)
	}

	// Nobody holds the lock: no leader.
	stdout, stderr, code := e.run(cmdServerMembers)
	if code != exitOK || stderr != "" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	want := "" +
		"Name                        Address       Port  Status  Leader  Protocol  Build  Datacenter  Region\n" +
		"NODE-1-nomad-server.global  172.17.5.129  6222  alive   false   1         0.4.1  dc1         global\n" +
		"NODE-2-nomad-server.global  172.17.5.127  6222  alive   false   1         0.4.1  dc1         global\n" +
		"NODE-3-nomad-server.global  172.17.5.126  6222  left    false   1         0.4.1  dc1         global\n"
	if stdout != want {
		t.Fatalf("without a lock holder, got\n%s\nwant\n%s", stdout, want)
	}

	putJSON(t, e.b.Lock, subjects.LockKey, subjects.Lock{Holder: s2.Name, Since: time.Now()})
	stdout, _, _ = e.run(cmdServerMembers)
	lines := strings.Split(stdout, "\n")
	if !strings.Contains(lines[2], "NODE-2-nomad-server.global") || !strings.Contains(lines[2], "alive   true") ||
		strings.Count(stdout, " true ") != 1 {
		t.Fatalf("lock held by %s, got\n%s", s2.Name, stdout)
	}

	stdout, _, code = e.run(cmdServerMembers, "-json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK {
		t.Fatalf("-json: code %d, %v\n%s", code, err, stdout)
	}
	if len(got) != 3 || got[1]["name"] != s2.Name || got[1]["leader"] != true || got[1]["status"] != "alive" ||
		got[2]["status"] != "left" || got[0]["build"] != "0.4.1" {
		t.Fatalf("-json: %v", got)
	}
}

func TestServerMembersMarksLapsedHeartbeatFailed(t *testing.T) {
	e := newTestEnv(t)
	s := seedServer("1", "127.0.0.1")
	s.TTL = 0 // lapsed as soon as written
	putJSON(t, e.b.Servers, subjects.Token(s.Name), s)
	stdout, _, code := e.run(cmdServerMembers)
	if code != exitOK || !strings.Contains(stdout, " failed ") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
}

func TestServerMembersWithoutBucketsSaysSo(t *testing.T) {
	e := newTestEnv(t)
	if err := e.js.DeleteKeyValue(ctxT(t), subjects.ServersBucket); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.run(cmdServerMembers)
	if code != exitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "bucket jetcron-servers not found") {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
}

func TestServerMembersShowsTheMetaLeaderUntilATickerHoldsTheLock(t *testing.T) {
	e := newTestEnv(t)
	s1, s2 := seedServer("1", "172.17.5.129"), seedServer("2", "172.17.5.127")
	s1.MetaLeader, s2.MetaLeader = s2.Name, s2.Name
	for _, s := range []subjects.Member{s1, s2} {
		putJSON(t, e.b.Servers, subjects.Token(s.Name), s)
	}
	stdout, _, code := e.run(cmdServerMembers)
	lines := strings.Split(stdout, "\n")
	if code != exitOK || !strings.Contains(lines[2], "NODE-2-nomad-server.global") || !strings.Contains(lines[2], "alive   true") ||
		strings.Count(stdout, " true ") != 1 {
		t.Fatalf("meta leader %s reported by both servers, got\n%s", s2.Name, stdout)
	}
	putJSON(t, e.b.Lock, subjects.LockKey, subjects.Lock{Holder: s1.Name, Since: time.Now()})
	stdout, _, _ = e.run(cmdServerMembers)
	lines = strings.Split(stdout, "\n")
	if !strings.Contains(lines[1], "alive   true") || strings.Count(stdout, " true ") != 1 {
		t.Fatalf("lock held by %s, got\n%s", s1.Name, stdout)
	}
}
