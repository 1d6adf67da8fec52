package ui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jetcron/jetcron/operator"
)

// memberRow is a node or a server of the nodes' or members' page: whether it is the
// ticker's lock holder (servers), and the CLI command that drains it (nodes).
type memberRow struct {
	operator.MemberView
	IsLeader bool
	Command  string
}

// membersData is the nodes' or the members' page.
type membersData struct {
	Members []memberRow
	Now     time.Time
}

// nodes serves the client nodes, each with its drain command.
func (s *server) nodes(ctx context.Context, _ *http.Request, now time.Time) (view, error) {
	nodes, err := s.client.Nodes(ctx, now, nil)
	if err != nil {
		return view{}, err
	}
	d := membersData{Now: now}
	for _, n := range nodes {
		d.Members = append(d.Members, memberRow{MemberView: n, Command: drainCommand(n.Name, n.Drain)})
	}
	return view{Title: "Nodes", Nav: "nodes", Data: d}, nil
}

// members serves the server agents, the ticker's lock holder marked.
func (s *server) members(ctx context.Context, _ *http.Request, now time.Time) (view, error) {
	servers, err := s.client.Members(ctx, now, nil)
	if err != nil {
		return view{}, err
	}
	d := membersData{Now: now}
	for _, m := range servers {
		d.Members = append(d.Members, memberRow{MemberView: m, IsLeader: m.Leader != nil && *m.Leader})
	}
	return view{Title: "Members", Nav: "members", Data: d}, nil
}

// planData is the plan's page.
type planData struct {
	Plan *operator.Plan
	Job  string
	// More is the link to the rest of the window, past the limit; "" when the plan
	// holds every tick of it.
	More string
	Now  time.Time
}

// plan serves the ticks of the next 24 h as `jetcron job plan` lists them: ?job= one
// job's, ?from= (RFC 3339) and ?next= (a duration) another window.
func (s *server) plan(ctx context.Context, r *http.Request, now time.Time) (view, error) {
	q := operator.PlanQuery{Job: r.URL.Query().Get("job")}
	if v := r.URL.Query().Get("next"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return view{}, fmt.Errorf("next %q: want a duration such as 24h: %w", v, operator.ErrInvalid)
		}
		q.Window = d
	}
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return view{}, fmt.Errorf("from %q: want RFC 3339: %w", v, operator.ErrInvalid)
		}
		q.From = t
	}
	p, err := s.client.Plan(ctx, now, q)
	if err != nil {
		return view{}, err
	}
	d := planData{Plan: p, Job: q.Job, Now: now}
	if p.Next != nil {
		d.More = planURL(q.Job, *p.Next, p.To.Sub(*p.Next))
	}
	return view{Title: "Plan", Nav: "plan", Data: d}, nil
}
