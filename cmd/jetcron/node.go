package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// drainRetries bounds the revision-checked updates of `node drain`, which lose a race
// whenever the node's runner heartbeats in between.
const drainRetries = 20

// cmdNodeStatus is `jetcron node status`.
func cmdNodeStatus(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "node status", synopsis: "Lists the client nodes from the " + subjects.NodesBucket + " bucket, as Nomad's node-status:\n" +
		"ready while their heartbeat is current, down when it lapsed or the node left.\n" +
		"-json prints the full records."}, true)
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()

	kv, err := cl.bucket(ctx, subjects.NodesBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	nodes, err := loadMembers(ctx, kv, time.Now(), stderr, (*subjects.Member).NodeStatus)
	if err != nil {
		return c.fail(stderr, err)
	}
	sortNodes(nodes)
	if c.json {
		if err := printJSON(stdout, nodes); err != nil {
			return c.fail(stderr, err)
		}
		return exitOK
	}
	writeNodeStatus(stdout, nodes)
	return exitOK
}

// sortNodes orders nodes by ID, as Nomad, then by name.
func sortNodes(nodes []memberView) {
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].ID != nodes[j].ID {
			return nodes[i].ID < nodes[j].ID
		}
		return nodes[i].Name < nodes[j].Name
	})
}

// writeNodeStatus prints the node-status table.
func writeNodeStatus(w io.Writer, nodes []memberView) {
	tw := newTable(w)
	row(tw, "ID", "DC", "Name", "Class", "Drain", "Status")
	for _, n := range nodes {
		class := n.Class
		if class == "" {
			class = "<none>"
		}
		row(tw, orDash(subjects.ShortID(n.ID)), orDash(n.Datacenter), n.Name, class, strconv.FormatBool(n.Drain), n.Status)
	}
	tw.Flush()
}

// cmdNodeDrain is `jetcron node drain -enable|-disable NODE`.
func cmdNodeDrain(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "node drain", args: "NODE", synopsis: "Keeps new runs off a client node (-enable), or lets them back (-disable).\n" +
		"NODE is a node name or a prefix of its ID. Runs already on the node go on."}, false)
	enable := c.fs.Bool("enable", false, "drain the node: no new runs are placed on it")
	disable := c.fs.Bool("disable", false, "stop draining the node")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *enable == *disable {
		fmt.Fprintln(stderr, "Error: give exactly one of -enable and -disable")
		fmt.Fprintln(stderr)
		c.printUsage(stderr)
		return exitUsage
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return c.fail(stderr, err)
	}
	defer done()

	kv, err := cl.bucket(ctx, subjects.NodesBucket)
	if err != nil {
		return c.fail(stderr, err)
	}
	nodes, err := loadMembers(ctx, kv, time.Now(), io.Discard, (*subjects.Member).NodeStatus)
	if err != nil {
		return c.fail(stderr, err)
	}
	n, err := findNode(nodes, pos[0])
	if err != nil {
		return c.fail(stderr, err)
	}
	if err := setDrain(ctx, kv, n.Key, *enable); err != nil {
		return c.fail(stderr, fmt.Errorf("node %q: %w", n.Name, err))
	}
	if *enable {
		fmt.Fprintf(stdout, "Node %q drain strategy set\n", n.Name)
	} else {
		fmt.Fprintf(stdout, "Node %q drain disabled\n", n.Name)
	}
	return exitOK
}

// findNode picks the node named ref, or else the one node whose ID starts with ref.
func findNode(nodes []memberView, ref string) (*memberView, error) {
	for i := range nodes {
		if nodes[i].Name == ref {
			return &nodes[i], nil
		}
	}
	var found []*memberView
	for i := range nodes {
		if ref != "" && strings.HasPrefix(nodes[i].ID, ref) {
			found = append(found, &nodes[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no node is named %q or has an ID starting with it", ref)
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

// setDrain sets the Drain field of the node record at key with a revision-checked
// update, reading it again when the node's runner wrote it in between.
func setDrain(ctx context.Context, kv jetstream.KeyValue, key string, drain bool) error {
	for range drainRetries {
		e, err := kv.Get(ctx, key)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return errors.New("its record was deleted")
			}
			return fmt.Errorf("read record: %w", err)
		}
		// Decode into a map as well, so that fields this binary does not know survive.
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
			return err
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
