package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdNodeStatus is `jetcron node status`.
func cmdNodeStatus(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "node status", synopsis: "Lists the client nodes from the " + subjects.NodesBucket + " bucket, as Nomad's node-status:\n" +
		"ready while their heartbeat is current, down when it lapsed or the node left.\n" +
		"-json prints the full records."})
	return c.remote(args, 0, 0, stdout, stderr, nil, func(ctx context.Context, cl *client, _ []string) error {
		nodes, err := cl.Nodes(ctx, time.Now(), warnTo(stderr))
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, nodes)
		}
		writeNodeStatus(stdout, nodes)
		return nil
	})
}

// writeNodeStatus prints the node-status table.
func writeNodeStatus(w io.Writer, nodes []operator.MemberView) {
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
		"NODE is a node name or a prefix of its ID. Runs already on the node go on."})
	enable := c.fs.Bool("enable", false, "drain the node: no new runs are placed on it")
	disable := c.fs.Bool("disable", false, "stop draining the node")
	check := func([]string) error {
		if *enable == *disable {
			return errors.New("give exactly one of -enable and -disable")
		}
		return nil
	}
	return c.remote(args, 1, 1, stdout, stderr, check, func(ctx context.Context, cl *client, pos []string) error {
		n, err := cl.Drain(ctx, pos[0], *enable)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, n)
		}
		if *enable {
			fmt.Fprintf(stdout, "Node %q drain strategy set\n", n.Name)
		} else {
			fmt.Fprintf(stdout, "Node %q drain disabled\n", n.Name)
		}
		return nil
	})
}
