// Package placement is the rule that picks the client node a run goes to. The ticker
// applies it at each launch; the plan and `job status` show it ahead of time, so
// what they say is what the ticker does.
package placement

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jetcron/jetcron/job"
)

// Node is a client node as placement sees it.
type Node struct {
	Name, ID string
	// Attrs are the attributes constraints read (subjects.Member.PlacementAttrs).
	Attrs map[string]string
	// Alive: the node's heartbeat is within its TTL and it has not left.
	Alive bool
	// Drain keeps new runs off the node: the operator's wish. Stopping does too while
	// its runner shuts down, letting its running runs end.
	Drain, Stopping bool
	// Load is the queued and running allocations on the node.
	Load int
}

// Eligible returns the nodes that may take a run of j now: alive, in j's datacenters,
// with its driver and meeting its constraints, not draining or stopping; in the order
// of nodes. When there is none, why says what kept them out: "no node is
// registered", "no node is ready"; when some node meets j but each such node is
// draining or stopping, "every eligible node is draining" (or "node N is stopping",
// "every eligible node is draining or stopping"), whatever the order of the nodes;
// else "node N: <the constraint it fails>" of the last node j's constraints keep out.
//
// The ticker calls it for every launch: the reason is put into words only when no
// node is eligible.
func Eligible(j *job.Job, nodes []Node) (eligible []*Node, why string) {
	var out *Node // the last node j's constraints keep out, and by what
	var reason string
	var stopping *Node // the last node that meets j but is stopping
	draining := false  // a node that meets j is draining
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive {
			continue
		}
		if ok, r := j.Eligible(n.Attrs); !ok {
			out, reason = n, r
			continue
		}
		switch {
		case n.Drain:
			draining = true
		case n.Stopping:
			stopping = n
		default:
			eligible = append(eligible, n)
		}
	}
	switch {
	case len(eligible) > 0:
		return eligible, ""
	case draining && stopping != nil:
		return nil, "every eligible node is draining or stopping"
	case draining:
		return nil, "every eligible node is draining"
	case stopping != nil:
		return nil, "node " + stopping.Name + " is stopping"
	case out != nil:
		return nil, "node " + out.Name + ": " + reason
	case len(nodes) > 0:
		return nil, "no node is ready"
	}
	return nil, "no node is registered"
}

// Pick chooses among eligible (not empty) the node with the fewest allocations (its
// Load plus extra[name], the launches decided but not yet seen in Load), starting
// among equals at the one a hash of job and tick picks. The hash spreads the ticks of
// many jobs over equal nodes, and makes every ticker pick the same node for a tick.
func Pick(eligible []*Node, extra map[string]int, jobName string, tick time.Time) *Node {
	h := fnv.New32a()
	_, _ = h.Write([]byte(jobName))
	_, _ = fmt.Fprint(h, tick.Unix())
	start := int(h.Sum32() % uint32(len(eligible)))
	best := eligible[start]
	for i := 1; i < len(eligible); i++ {
		n := eligible[(start+i)%len(eligible)]
		if n.Load+extra[n.Name] < best.Load+extra[best.Name] {
			best = n
		}
	}
	return best
}
