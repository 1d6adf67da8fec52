package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// memberView is a server's or node's record with what a reader derives from it.
type memberView struct {
	subjects.Member
	Status string `json:"status"`
	// Leader is set for the server whose ticker holds the lock (servers only).
	Leader *bool `json:"leader,omitempty"`
	// Key is the record's key in its bucket; not shown.
	Key string `json:"-"`
	// Revision is the record's revision; not shown.
	Revision uint64 `json:"-"`
}

// loadMembers reads every member record of bucket (servers or nodes), with each
// status computed at now by status. Records that do not decode are reported on warn
// and left out.
func loadMembers(ctx context.Context, kv jetstream.KeyValue, now time.Time, warn io.Writer,
	status func(m *subjects.Member, written, now time.Time) string) ([]memberView, error) {
	es, err := entries(ctx, kv, ">")
	if err != nil {
		return nil, err
	}
	out := make([]memberView, 0, len(es))
	for _, e := range es {
		var m subjects.Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			fmt.Fprintf(warn, "Warning: %s/%s is not a member record: %v\n", kv.Bucket(), e.Key(), err)
			continue
		}
		out = append(out, memberView{Member: m, Status: status(&m, e.Created(), now), Key: e.Key(), Revision: e.Revision()})
	}
	return out, nil
}

// lockHolder returns the name in the ticker lock, "" when nobody holds it.
func lockHolder(ctx context.Context, cl *client) (string, error) {
	kv, err := cl.bucket(ctx, subjects.LockBucket)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, subjects.LockKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the ticker lock: %w", err)
	}
	var l subjects.Lock
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return "", fmt.Errorf("read the ticker lock: %w", err)
	}
	return l.Holder, nil
}

// metaLeader is the JetStream meta leader named by the most alive servers' records.
func metaLeader(servers []memberView) string {
	votes := map[string]int{}
	best := ""
	for _, s := range servers {
		if s.Status != subjects.StatusAlive || s.MetaLeader == "" {
			continue
		}
		votes[s.MetaLeader]++
		if votes[s.MetaLeader] > votes[best] || votes[s.MetaLeader] == votes[best] && s.MetaLeader < best {
			best = s.MetaLeader
		}
	}
	return best
}

// cmdServerMembers is `jetcron server members`.
func cmdServerMembers(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "server members", synopsis: "Lists the server agents from the " + subjects.ServersBucket + " bucket, as Nomad's\n" +
		"server-members: alive while their heartbeat is current, failed when it lapsed,\n" +
		"left after a clean shutdown. Leader is true for the server whose ticker holds\n" +
		"the lock; while no ticker holds it, for the JetStream meta leader that the\n" +
		"alive servers report."}, true)
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()

	kv, err := cl.bucket(ctx, subjects.ServersBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	servers, err := loadMembers(ctx, kv, time.Now(), stderr, (*subjects.Member).ServerStatus)
	if err != nil {
		return c.fail(stderr, err)
	}
	holder, err := lockHolder(ctx, cl)
	if err != nil {
		return c.fail(stderr, err)
	}
	if holder == "" {
		holder = metaLeader(servers)
	}
	for i := range servers {
		s := &servers[i]
		leader := holder != "" && (holder == s.Name || holder == s.ID)
		s.Leader = &leader
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })

	if c.json {
		if err := printJSON(stdout, servers); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	writeServerMembers(stdout, servers)
	return exitOK
}

// writeServerMembers prints the server-members table.
func writeServerMembers(w io.Writer, servers []memberView) {
	tw := newTable(w)
	row(tw, "Name", "Address", "Port", "Status", "Leader", "Protocol", "Build", "Datacenter", "Region")
	for _, s := range servers {
		region := s.Region
		if region == "" {
			region = "global"
		}
		row(tw, s.Name+"."+region, orDash(s.Address), portString(s.Port), s.Status,
			strconv.FormatBool(s.Leader != nil && *s.Leader), strconv.Itoa(s.Protocol), orDash(s.Build),
			orDash(s.Datacenter), region)
	}
	tw.Flush()
}

func portString(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
