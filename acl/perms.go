package acl

import (
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/jetcron/jetcron/subjects"
)

// Roles of jetcron's users. Each is a NATS user of jetcron's account whose JWT lists
// what it may publish and subscribe to; the NATS servers enforce it.
const (
	// RoleAdmin defines jobs (writes the jobs bucket), manages streams, reads
	// everything: whoever holds it can run programs on every runner host.
	RoleAdmin = "admin"
	// RoleServer is the server agents': the ticker launches runs and keeps the lock,
	// the run records and the job states; it provisions the buckets and the stream.
	RoleServer = "server"
	// RoleRunner is a runner host's: it consumes the launches addressed to its own
	// node, keeps its own node record, records its runs and publishes their live
	// output.
	RoleRunner = "runner"
	// RoleReader reads everything and writes nothing.
	RoleReader = "reader"
)

// roles lists the roles in the order the commands show them.
var roles = []string{RoleAdmin, RoleServer, RoleRunner, RoleReader}

// AnyNode as a runner's node makes credentials that any runner host may use: they
// cannot be restricted to one node's launches.
const AnyNode = "*"

// inboxPrefix is the inbox prefix of a role's connections. Replies (JetStream API
// answers, pulled launches) go to the requester's inbox, and a user allowed to
// subscribe to "_INBOX.>" receives every other user's replies too; so runners and
// servers get inboxes of their own. admin and reader keep the default, so that the
// nats CLI works without --inbox-prefix.
func inboxPrefix(role, node string) string {
	switch role {
	case RoleServer:
		return subjects.InboxPrefix(RoleServer, "")
	case RoleRunner:
		if node == AnyNode {
			return subjects.InboxPrefix(RoleRunner, "")
		}
		return subjects.InboxPrefix(RoleRunner, node)
	default:
		return subjects.DefaultInboxPrefix
	}
}

// bucketNames is every KV bucket jetcron provisions.
func bucketNames() []string {
	var names []string
	for _, b := range subjects.DefaultLayout(1, time.Second).Buckets() {
		names = append(names, b.Bucket)
	}
	return names
}

// streamNames is every stream jetcron provisions: the buckets' and the runs stream.
func streamNames() []string {
	var names []string
	for _, b := range bucketNames() {
		names = append(names, subjects.KVStream(b))
	}
	return append(names, subjects.RunsStream)
}

// consumerPerms lets a user make, read and delete consumers on every stream but the
// runs stream, where the runners' durables are (watching a bucket is an ordered
// consumer that the client creates, answers flow control for, and deletes when
// done). Denials win over allowances. except lists operations on the runs stream's
// consumers to leave allowed (the ticker moves their leaderships).
func consumerPerms(except ...string) (allow, deny []string) {
	r := subjects.RunsStream
	allow = []string{subjects.API("CONSUMER", ">"), subjects.FlowControlFilter}
	deny = []string{subjects.ConsumerAPI("CREATE", r), subjects.ConsumerAPI("DURABLE.CREATE", r, ">")}
	for _, op := range []string{"CREATE", "DELETE", "MSG.NEXT", "PAUSE", "UNPIN", "RESET", "LEADER.STEPDOWN"} {
		if !slices.Contains(except, op) {
			deny = append(deny, subjects.ConsumerAPI(op, r, ">"))
		}
	}
	return allow, deny
}

// readPerms is JetStream's read-only API: stream information, and direct gets of
// any stream (`nats stream view runs`, KV gets).
func readPerms() []string {
	return []string{
		subjects.API("INFO"),
		subjects.API("STREAM", "NAMES"),
		subjects.API("STREAM", "LIST"),
		subjects.StreamAPI("INFO", "*"),
		subjects.MsgGetAPI("", "*"),
		subjects.API("DIRECT", "GET", ">"),
	}
}

// permissions is what a user of role may do; node names a runner's node (AnyNode for
// any), and for a server whose agent is also a client it adds that runner's rights.
func permissions(role, node string) jwt.Permissions {
	var pub, deny, sub []string
	var resp *jwt.ResponsePermission
	switch role {
	case RoleAdmin:
		pub, sub = []string{">"}, []string{">"}
	case RoleReader:
		pub, deny = consumerPerms()
		pub = append(pub, readPerms()...)
		sub = []string{inboxPrefix(role, node) + ".>", subjects.OutputFilter}
	case RoleRunner:
		pub = runnerPub(node)
		sub = []string{inboxPrefix(role, node) + ".>"}
	case RoleServer:
		// While it holds the lock, the ticker moves the leaderships of the runners'
		// consumers off its own server. Every server follows the run events (metrics,
		// notifications) with consumers of its own on the runs stream, filtered on the
		// events: it may make those, never one that takes launches.
		pub, deny = consumerPerms("LEADER.STEPDOWN", "CREATE", "DELETE", "MSG.NEXT")
		r := subjects.RunsStream
		deny = append(deny, subjects.ConsumerAPI("CREATE", r, "*"), subjects.ConsumerAPI("CREATE", r, "*", subjects.LaunchFilterAll))
		pub = append(pub, subjects.AckFilters(r, "")...)
		pub = append(pub, serverPub()...)
		if node != "" {
			// Its own durable on the runs stream: allowed by name, so not denied.
			pub = append(pub, runnerPub(node)...)
			deny = nil
		}
		// Its HTTP API follows runs: their live output too.
		sub = []string{inboxPrefix(role, node) + ".>", subjects.ForceSubjects, subjects.OutputFilter}
		// The ticker answers `job periodic force` requests on the requester's inbox.
		resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	}
	slices.Sort(pub)
	pub = slices.Compact(pub)
	return jwt.Permissions{Pub: jwt.Permission{Allow: pub, Deny: deny}, Sub: jwt.Permission{Allow: sub}, Resp: resp}
}

// runnerPub is a runner's publish allow list. It reads and writes its own node's
// record; it creates, reads and pulls from its own durable consumer only, which the
// server makes sure filters on its own node's launches (the filter is part of the
// create subject); it acks those launches. It writes run records, output and events:
// their keys and subjects name the job and the tick, not the node, so any runner may
// write any run's (a revision check stops it from claiming a run that is not its own,
// but not from spoiling another run's record). It publishes live output likewise:
// of any run whose subject names no node, and of its own node's sysbatch runs only.
func runnerPub(node string) []string {
	tok := subjects.Token(node)
	durable := subjects.DurableName(node)
	filter := subjects.LaunchFilter(node)
	live := []string{subjects.OutputRunsFilter, subjects.NodeOutputFilter(node)}
	if node == AnyNode {
		tok, durable, filter = "*", "*", subjects.LaunchFilterAnyNode
		live = []string{subjects.OutputFilter}
	}
	nodes, runs, logs := subjects.NodesBucket, subjects.RunStateBucket, subjects.LogsBucket
	r := subjects.RunsStream
	return append([]string{
		subjects.StreamAPI("INFO", subjects.KVStream(nodes)),
		subjects.StreamAPI("INFO", subjects.KVStream(runs)),
		subjects.StreamAPI("INFO", subjects.KVStream(logs)),
		subjects.DirectGetAPI(subjects.KVStream(nodes), subjects.KVSubject(nodes, tok)),
		subjects.DirectGetAPI(subjects.KVStream(runs), subjects.KVSubject(runs, ">")),
		subjects.KVSubject(nodes, tok),
		subjects.KVSubject(runs, ">"),
		subjects.KVSubject(logs, ">"),
		subjects.EventFilter,
		subjects.ConsumerAPI("CREATE", r, durable, filter),
		subjects.ConsumerAPI("INFO", r, durable),
		subjects.ConsumerAPI("MSG.NEXT", r, durable),
	}, append(live, subjects.AckFilters(r, durable)...)...)
}

// serverPub is the server agents' publish allow list (with consumerPerms): make the
// buckets and the stream (never delete them; update only those that keep the run
// history, whose age limit follows server.run_history), purge old run records and
// output (server.runs_per_job), move the leaderships of the streams the ticker
// writes, read everything, write the lock, run records, job states and server
// records, publish launches and events. Not the jobs bucket, not the nodes bucket.
func serverPub() []string {
	pub := append(readPerms(),
		subjects.KVSubject(subjects.LockBucket, ">"),
		subjects.KVSubject(subjects.RunStateBucket, ">"),
		subjects.KVSubject(subjects.JobStateBucket, ">"),
		subjects.KVSubject(subjects.ServersBucket, ">"),
		subjects.LaunchFilterAll,
		subjects.EventFilter,
	)
	for _, s := range streamNames() {
		pub = append(pub, subjects.StreamAPI("CREATE", s))
	}
	for _, s := range []string{subjects.KVStream(subjects.RunStateBucket), subjects.KVStream(subjects.LogsBucket), subjects.RunsStream} {
		pub = append(pub, subjects.StreamAPI("UPDATE", s))
	}
	for _, s := range []string{subjects.KVStream(subjects.RunStateBucket), subjects.KVStream(subjects.LogsBucket)} {
		pub = append(pub, subjects.StreamAPI("PURGE", s))
	}
	for _, s := range []string{subjects.KVStream(subjects.LockBucket), subjects.KVStream(subjects.RunStateBucket),
		subjects.KVStream(subjects.JobStateBucket), subjects.RunsStream, subjects.KVStream(subjects.NodesBucket),
		subjects.KVStream(subjects.JobsBucket)} {
		pub = append(pub, subjects.StreamStepDownAPI(s))
	}
	return pub
}
