package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// drainRetries bounds the revision-checked updates of Drain, which lose a race
// whenever the node's runner heartbeats in between.
const drainRetries = 20

// MemberView is a server's or node's record with what a reader derives from it
// (`node status -json`, `server members -json`, GET /v1/nodes and /v1/members).
type MemberView struct {
	subjects.Member
	Status string `json:"status"`
	// Leader is set for the server whose ticker holds the lock (servers only).
	Leader *bool `json:"leader,omitempty"`
	// Key is the record's key in its bucket; not shown.
	Key string `json:"-"`
	// Revision is the record's revision; not shown.
	Revision uint64 `json:"-"`
}

// LoadMembers reads every member record of kv (servers or nodes), with each status
// computed at now by status. Records that do not decode are told to warn (may be
// nil) and left out.
func LoadMembers(ctx context.Context, kv jetstream.KeyValue, now time.Time, warn func(string),
	status func(m *subjects.Member, written, now time.Time) string) ([]MemberView, error) {
	es, err := Entries(ctx, kv, ">")
	if err != nil {
		return nil, err
	}
	out := make([]MemberView, 0, len(es))
	for _, e := range es {
		var m subjects.Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			if warn != nil {
				warn(fmt.Sprintf("%s/%s is not a member record: %v", kv.Bucket(), e.Key(), err))
			}
			continue
		}
		out = append(out, MemberView{Member: m, Status: status(&m, e.Created(), now), Key: e.Key(), Revision: e.Revision()})
	}
	return out, nil
}

// Nodes lists the client nodes at now, sorted by ID as Nomad, then by name.
func (c *Client) Nodes(ctx context.Context, now time.Time, warn func(string)) ([]MemberView, error) {
	kv, err := c.Bucket(ctx, subjects.NodesBucket)
	if err != nil {
		return nil, err
	}
	nodes, err := LoadMembers(ctx, kv, now, warn, (*subjects.Member).NodeStatus)
	if err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].ID != nodes[j].ID {
			return nodes[i].ID < nodes[j].ID
		}
		return nodes[i].Name < nodes[j].Name
	})
	return nodes, nil
}

// Members lists the server agents at now, sorted by name. Leader is true for the
// server whose ticker holds the lock; while no ticker holds it, for the JetStream
// meta leader that the alive servers report.
func (c *Client) Members(ctx context.Context, now time.Time, warn func(string)) ([]MemberView, error) {
	kv, err := c.Bucket(ctx, subjects.ServersBucket)
	if err != nil {
		return nil, err
	}
	servers, err := LoadMembers(ctx, kv, now, warn, (*subjects.Member).ServerStatus)
	if err != nil {
		return nil, err
	}
	lock, err := c.Lock(ctx)
	if err != nil {
		return nil, err
	}
	holder := ""
	if lock != nil {
		holder = lock.Holder
	}
	if holder == "" {
		holder = MetaLeader(servers)
	}
	for i := range servers {
		s := &servers[i]
		leader := holder != "" && (holder == s.Name || holder == s.ID)
		s.Leader = &leader
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })
	return servers, nil
}

// Lock returns the ticker lock's value, nil when nobody holds it.
func (c *Client) Lock(ctx context.Context) (*subjects.Lock, error) {
	kv, err := c.Bucket(ctx, subjects.LockBucket)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, subjects.LockKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the ticker lock: %w", err)
	}
	var l subjects.Lock
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return nil, fmt.Errorf("read the ticker lock: %w", err)
	}
	return &l, nil
}

// MetaLeader is the JetStream meta leader named by the most alive servers' records.
func MetaLeader(servers []MemberView) string {
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

// Drain keeps new runs off the node ref (a name, or a prefix of one node's ID) when
// enable is true, and lets them back when false. It returns the node with its new
// drain setting.
func (c *Client) Drain(ctx context.Context, ref string, enable bool) (*MemberView, error) {
	kv, err := c.Bucket(ctx, subjects.NodesBucket)
	if err != nil {
		return nil, err
	}
	nodes, err := LoadMembers(ctx, kv, time.Now(), nil, (*subjects.Member).NodeStatus)
	if err != nil {
		return nil, err
	}
	n, err := FindNode(nodes, ref)
	if err != nil {
		return nil, err
	}
	if err := SetDrain(ctx, kv, n.Key, enable); err != nil {
		return nil, fmt.Errorf("node %q: %w", n.Name, err)
	}
	n.Drain = enable
	return n, nil
}

// FindNode picks the node named ref, or else the one node whose ID starts with ref.
// The error wraps ErrNotFound when none does.
func FindNode(nodes []MemberView, ref string) (*MemberView, error) {
	for i := range nodes {
		if nodes[i].Name == ref {
			return &nodes[i], nil
		}
	}
	var found []*MemberView
	for i := range nodes {
		if ref != "" && strings.HasPrefix(nodes[i].ID, ref) {
			found = append(found, &nodes[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no node is named %q or has an ID starting with it: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	default:
		ids := make([]string, len(found))
		for i, n := range found {
			ids[i] = subjects.ShortID(n.ID) + " (" + n.Name + ")"
		}
		return nil, fmt.Errorf("ID prefix %q matches %d nodes: %s; give more of the ID", ref, len(found), strings.Join(ids, ", "))
	}
}

// SetDrain sets the Drain field of the node record at key with a revision-checked
// update, reading it again when the node's runner wrote it in between. Fields this
// binary does not know survive.
func SetDrain(ctx context.Context, kv jetstream.KeyValue, key string, drain bool) error {
	for range drainRetries {
		e, err := kv.Get(ctx, key)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return errors.New("its record was deleted")
			}
			return fmt.Errorf("read record: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(e.Value(), &raw); err != nil {
			return fmt.Errorf("decode record: %w", err)
		}
		if drain {
			raw["drain"] = json.RawMessage("true")
		} else {
			delete(raw, "drain")
		}
		data, err := json.Marshal(raw)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		_, err = kv.Update(ctx, key, data, e.Revision())
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("update record: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("record kept changing: gave up after %d tries", drainRetries)
}

// NoEligibleNode says why no node can run j now ("" when one can), by package
// placement's rule, in the words the ticker uses when it cannot place a tick.
func (c *Client) NoEligibleNode(ctx context.Context, j *job.Job, now time.Time) (string, error) {
	nodes, err := c.PlacementNodes(ctx, now)
	if err != nil {
		return "", err
	}
	return whyNoNode(j, nodes), nil
}

// whyNoNode says why none of nodes can run j ("" when one can), by package
// placement's rule, in the ticker's words.
func whyNoNode(j *job.Job, nodes []placement.Node) string {
	if eligible, why := placement.Eligible(j, nodes); len(eligible) == 0 {
		return why
	}
	return ""
}

// noNodeWarning is the warning of a job that none of nodes can run ("no node is
// eligible now: WHY"); "" when one can, or when the job launches nothing (stopped,
// or never valid).
func noNodeWarning(v *JobView, nodes []placement.Node) string {
	if v.Entry == nil || v.LastSpec == nil {
		return ""
	}
	if why := whyNoNode(v.LastSpec, nodes); why != "" {
		return "no node is eligible now: " + why
	}
	return ""
}

// PlacementNodes reads the client nodes as placement sees them at now. Load is left
// zero: the operator does not count every node's allocations.
func (c *Client) PlacementNodes(ctx context.Context, now time.Time) ([]placement.Node, error) {
	nodes, err := c.Nodes(ctx, now, nil)
	if err != nil {
		return nil, err
	}
	out := make([]placement.Node, len(nodes))
	for i, n := range nodes {
		out[i] = placement.Node{Name: n.Name, ID: n.ID, Attrs: n.PlacementAttrs(),
			Alive: n.Status == subjects.StatusReady, Drain: n.Drain, Stopping: n.Stopping}
	}
	return out, nil
}
