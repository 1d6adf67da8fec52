package main

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// cmdServerMembers is `jetcron server members`.
func cmdServerMembers(args []string, stdout, stderr io.Writer) int {
	c := newCommand(usage{name: "server members", synopsis: "Lists the server agents from the " + subjects.ServersBucket + " bucket, as Nomad's\n" +
		"server-members: alive while their heartbeat is current, failed when it lapsed,\n" +
		"left after a clean shutdown. Leader is true for the server whose ticker holds\n" +
		"the lock; while no ticker holds it, for the JetStream meta leader that the\n" +
		"alive servers report."})
	return c.remote(args, 0, 0, stdout, stderr, nil, func(ctx context.Context, cl *client, _ []string) error {
		servers, err := cl.Members(ctx, time.Now(), warnTo(stderr))
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, servers)
		}
		writeServerMembers(stdout, servers)
		return nil
	})
}

// writeServerMembers prints the server-members table.
func writeServerMembers(w io.Writer, servers []operator.MemberView) {
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
