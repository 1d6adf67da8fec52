package main

import (
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/jetcron/jetcron/subjects"
)

// Roles of jetcron's users. Each is a NATS user of jetcron's account whose JWT lists
// what it may publish and subscribe to; the NATS servers enforce it.
const (
	// roleAdmin defines jobs (writes the jobs bucket), manages streams, reads
	// everything: whoever holds it can run programs on every runner host.
	roleAdmin = "admin"
	// roleServer is the server agents': the ticker launches runs and keeps the lock,
	// the run records and the job states; it provisions the buckets and the stream.
	roleServer = "server"
	// roleRunner is a runner host's: it consumes the launches addressed to its own
	// node, keeps its own node record, and records its runs.
	roleRunner = "runner"
	// roleReader reads everything and writes nothing.
	roleReader = "reader"
)

// roles lists the roles in the order the commands show them.
var roles = []string{roleAdmin, roleServer, roleRunner, roleReader}

// anyNode as a runner's node makes credentials that any runner host may use: they
// cannot be restricted to one node's launches.
const anyNode = "*"

// userNamePrefix starts the name of every user JWT jetcron makes; the role and the
// node follow: "jetcron-runner:web-1".
const userNamePrefix = "jetcron-"

// Wire names that jetcron's users need and that the subjects package does not spell
// (they are JetStream's and the KV layer's own conventions).
const (
	jsAPI        = "$JS.API."
	jsAck        = "$JS.ACK."
	jsFC         = "$JS.FC."
	kvPrefix     = "$KV."
	kvStreamPfx  = "KV_"
	inboxDefault = "_INBOX"
)

// kvStream is the stream behind a KV bucket.
func kvStream(bucket string) string { return kvStreamPfx + bucket }

// kvSubject is the subject of key in bucket ("$KV.<bucket>.<key>"); key may be a
// wildcard.
func kvSubject(bucket, key string) string { return kvPrefix + bucket + "." + key }

// wildcardOf turns a subject built from a placeholder last token into a filter of
// every such subject: runs.event.X -> runs.event.>.
func wildcardOf(build func(string) string) string {
	const placeholder = "X"
	return strings.TrimSuffix(build(placeholder), placeholder) + ">"
}

// launchPrefix is what every launch subject starts with: "runs.launch.".
func launchPrefix() string {
	const placeholder = "X"
	return strings.TrimSuffix(subjects.LaunchFilter(placeholder), placeholder+".>")
}

// inboxPrefix is the inbox prefix of a role's connections. Replies (JetStream API
// answers, pulled launches) go to the requester's inbox, and a user allowed to
// subscribe to "_INBOX.>" receives every other user's replies too; so runners and
// servers get inboxes of their own. admin and reader keep the default, so that the
// nats CLI works without --inbox-prefix.
func inboxPrefix(role, node string) string {
	switch role {
	case roleServer:
		return inboxDefault + "_server"
	case roleRunner:
		if node == anyNode {
			return inboxDefault + "_runner"
		}
		return inboxDefault + "_runner_" + subjects.Token(node)
	default:
		return inboxDefault
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
		names = append(names, kvStream(b))
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
	allow = []string{jsAPI + "CONSUMER.>", jsFC + ">"}
	deny = []string{jsAPI + "CONSUMER.CREATE." + r, jsAPI + "CONSUMER.DURABLE.CREATE." + r + ".>"}
	for _, op := range []string{"CREATE", "DELETE", "MSG.NEXT", "PAUSE", "UNPIN", "RESET", "LEADER.STEPDOWN"} {
		if !slices.Contains(except, op) {
			deny = append(deny, jsAPI+"CONSUMER."+op+"."+r+".>")
		}
	}
	return allow, deny
}

// readPerms is JetStream's read-only API: stream information, and direct gets of
// any stream (`nats stream view runs`, KV gets).
func readPerms() []string {
	return []string{
		jsAPI + "INFO",
		jsAPI + "STREAM.NAMES",
		jsAPI + "STREAM.LIST",
		jsAPI + "STREAM.INFO.*",
		jsAPI + "STREAM.MSG.GET.*",
		jsAPI + "DIRECT.GET.>",
	}
}

// permissions is what a user of role may do; node names a runner's node (anyNode for
// any), and for a server whose agent is also a client it adds that runner's rights.
func permissions(role, node string) jwt.Permissions {
	var pub, deny, sub []string
	var resp *jwt.ResponsePermission
	switch role {
	case roleAdmin:
		pub, sub = []string{">"}, []string{">"}
	case roleReader:
		pub, deny = consumerPerms()
		pub = append(pub, readPerms()...)
		sub = []string{inboxPrefix(role, node) + ".>"}
	case roleRunner:
		pub = runnerPub(node)
		sub = []string{inboxPrefix(role, node) + ".>"}
	case roleServer:
		// While it holds the lock, the ticker moves the leaderships of the runners'
		// consumers off its own server. Every server follows the run events (metrics,
		// notifications) with consumers of its own on the runs stream, filtered on the
		// events: it may make those, never one that takes launches.
		pub, deny = consumerPerms("LEADER.STEPDOWN", "CREATE", "DELETE", "MSG.NEXT")
		r := subjects.RunsStream
		deny = append(deny, jsAPI+"CONSUMER.CREATE."+r+".*", jsAPI+"CONSUMER.CREATE."+r+".*."+launchPrefix()+">")
		pub = append(pub, jsAck+r+".>", jsAck+"*.*."+r+".>")
		pub = append(pub, serverPub()...)
		if node != "" {
			// Its own durable on the runs stream: allowed by name, so not denied.
			pub = append(pub, runnerPub(node)...)
			deny = nil
		}
		sub = []string{inboxPrefix(role, node) + ".>", subjects.ForceSubjects}
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
// but not from spoiling another run's record).
func runnerPub(node string) []string {
	tok := subjects.Token(node)
	durable := subjects.DurableName(node)
	filter := subjects.LaunchFilter(node)
	if node == anyNode {
		tok, durable, filter = "*", "*", launchPrefix()+"*.>"
	}
	nodes, runs, logs := subjects.NodesBucket, subjects.RunStateBucket, subjects.LogsBucket
	return []string{
		jsAPI + "STREAM.INFO." + kvStream(nodes),
		jsAPI + "STREAM.INFO." + kvStream(runs),
		jsAPI + "STREAM.INFO." + kvStream(logs),
		jsAPI + "DIRECT.GET." + kvStream(nodes) + "." + kvSubject(nodes, tok),
		jsAPI + "DIRECT.GET." + kvStream(runs) + "." + kvSubject(runs, ">"),
		kvSubject(nodes, tok),
		kvSubject(runs, ">"),
		kvSubject(logs, ">"),
		wildcardOf(subjects.EventSubject),
		jsAPI + "CONSUMER.CREATE." + subjects.RunsStream + "." + durable + "." + filter,
		jsAPI + "CONSUMER.INFO." + subjects.RunsStream + "." + durable,
		jsAPI + "CONSUMER.MSG.NEXT." + subjects.RunsStream + "." + durable,
		jsAck + subjects.RunsStream + "." + durable + ".>",
		jsAck + "*.*." + subjects.RunsStream + "." + durable + ".>",
	}
}

// serverPub is the server agents' publish allow list (with consumerPerms): make the
// buckets and the stream (never update or delete them), move the leaderships of the
// streams the ticker writes, read everything, write the lock, run records, job
// states and server records, publish launches and events. Not the jobs bucket, not
// the nodes bucket.
func serverPub() []string {
	pub := append(readPerms(),
		kvSubject(subjects.LockBucket, ">"),
		kvSubject(subjects.RunStateBucket, ">"),
		kvSubject(subjects.JobStateBucket, ">"),
		kvSubject(subjects.ServersBucket, ">"),
		launchPrefix()+">",
		wildcardOf(subjects.EventSubject),
	)
	for _, s := range streamNames() {
		pub = append(pub, jsAPI+"STREAM.CREATE."+s)
	}
	for _, s := range []string{kvStream(subjects.LockBucket), kvStream(subjects.RunStateBucket), kvStream(subjects.JobStateBucket), subjects.RunsStream, kvStream(subjects.NodesBucket), kvStream(subjects.JobsBucket)} {
		pub = append(pub, jsAPI+"STREAM.LEADER.STEPDOWN."+s)
	}
	return pub
}
