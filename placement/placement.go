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
// of nodes. When there is none, why says what kept the last one out: "no node is
// registered", "no node is ready", "node N: <the constraint it fails>", "every
// eligible node is draining", or "node N is stopping".
//
// The ticker calls it for every launch: the reason is put into words only when no
// node is eligible.
func Eligible(j *job.Job, nodes []Node) (eligible []*Node, why string) {
	var last *Node // the last node kept out, and by what
	var reason string
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive {
			continue
		}
		var ok bool
		if ok, reason = j.Eligible(n.Attrs); !ok || n.Drain || n.Stopping {
			last = n
			continue
		}
		eligible = append(eligible, n)
	}
	switch {
	case len(eligible) > 0:
		return eligible, ""
	case last == nil && len(nodes) > 0:
		return nil, "no node is ready"
	case last == nil:
		return nil, "no node is registered"
	case reason != "":
		return nil, "node " + last.Name + ": " + reason
	case last.Drain:
		return nil, "every eligible node is draining"
	default:
		return nil, "node " + last.Name + " is stopping"
	}
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
