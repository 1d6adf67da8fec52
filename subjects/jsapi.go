package subjects

import "strings"

// JetStream's own names that jetcron uses: the stream behind a KV bucket, the subject
// of a bucket key, the API requests made by hand (nats.go has no call for them), and
// the subjects that the permissions of jetcron's users list (acks, flow control,
// inboxes).

// DefaultAPIPrefix is the prefix of JetStream's API subjects in the default domain.
const DefaultAPIPrefix = "$JS.API."

// kvStreamPrefix and kvSubjectPrefix are how JetStream names a KV bucket's stream and
// the subjects of its keys.
const (
	kvStreamPrefix  = "KV_"
	kvSubjectPrefix = "$KV."
)

// KVStream is the name of the stream that holds bucket.
func KVStream(bucket string) string { return kvStreamPrefix + bucket }

// BucketOfStream is KVStream read back; ok is false for a stream of no bucket.
func BucketOfStream(stream string) (bucket string, ok bool) {
	return strings.CutPrefix(stream, kvStreamPrefix)
}

// KVSubject is the subject of key in bucket; key ">" matches every key.
func KVSubject(bucket, key string) string { return kvSubjectPrefix + bucket + "." + key }

// KVOperationHeader is on a KV stream's message that deletes or purges its key
// (value "DEL" or "PURGE"); a message of a Put has none.
const KVOperationHeader = "KV-Operation"

// KeyOfSubject is KVSubject read back for bucket; ok is false for another bucket's.
func KeyOfSubject(bucket, subject string) (key string, ok bool) {
	return strings.CutPrefix(subject, kvSubjectPrefix+bucket+".")
}

// ackPrefix and flowControlPrefix start the subjects of a consumer's acks and of its
// flow control replies.
const (
	ackPrefix         = "$JS.ACK."
	flowControlPrefix = "$JS.FC."
)

// FlowControlFilter matches every flow control reply, which a client sends while it
// watches a bucket (an ordered consumer).
const FlowControlFilter = flowControlPrefix + ">"

// DefaultInboxPrefix is the inbox prefix NATS clients use unless told otherwise
// (nats.InboxPrefix without its dot): the replies to their requests come below it.
const DefaultInboxPrefix = "_INBOX"

// InboxPrefix is an inbox prefix of a connection's own, apart from the default one,
// for a user of role, and of node when not empty: "_INBOX_runner_web-1". A user
// allowed to subscribe below it receives no other user's replies.
func InboxPrefix(role, node string) string {
	p := DefaultInboxPrefix + "_" + role
	if node != "" {
		p += "_" + Token(node)
	}
	return p
}

// API is the subject of a JetStream API request in the default domain: its tokens
// after the prefix, API("STREAM", "NAMES") = "$JS.API.STREAM.NAMES". A last token
// "*" or ">" makes a filter of such requests.
func API(tokens ...string) string { return DefaultAPIPrefix + strings.Join(tokens, ".") }

// StreamAPI is the subject of the request op ("INFO", "CREATE") on stream; stream "*"
// matches the request on every stream.
func StreamAPI(op, stream string) string { return API("STREAM", op, stream) }

// ConsumerAPI is the subject of the request op ("CREATE", "INFO", "MSG.NEXT") on a
// consumer of stream: rest names the consumer, and for a create its filter subject
// ("$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>"); no rest is the create
// of an unnamed consumer.
func ConsumerAPI(op, stream string, rest ...string) string {
	return API(append([]string{"CONSUMER", op, stream}, rest...)...)
}

// DirectGetAPI is the subject of a direct get of the last message on subject in
// stream, which any replica answers from its own copy.
func DirectGetAPI(stream, subject string) string { return API("DIRECT", "GET", stream, subject) }

// AckFilters match the acks to consumer of stream (every consumer of it when
// consumer is ""), in both forms JetStream sends: "$JS.ACK.<stream>.<consumer>..."
// and, with the domain and account hash tokens, "$JS.ACK.*.*.<stream>.<consumer>...".
func AckFilters(stream, consumer string) []string {
	rest := stream + ".>"
	if consumer != "" {
		rest = stream + "." + consumer + ".>"
	}
	return []string{ackPrefix + rest, ackPrefix + "*.*." + rest}
}

// MsgGetAPI is the subject of the stream's MSG.GET request, which its leader answers
// (unlike a direct get, which any replica answers from its own copy). apiPrefix is
// the JetStream context's ("" for DefaultAPIPrefix).
func MsgGetAPI(apiPrefix, stream string) string { return apiOr(apiPrefix) + "STREAM.MSG.GET." + stream }

// StreamStepDownAPI is the subject of a request to the stream's leader to hand its
// leadership over.
func StreamStepDownAPI(stream string) string { return StreamAPI("LEADER.STEPDOWN", stream) }

// ConsumerStepDownAPI is StreamStepDownAPI for one of the stream's consumers.
func ConsumerStepDownAPI(stream, consumer string) string {
	return ConsumerAPI("LEADER.STEPDOWN", stream, consumer)
}

func apiOr(prefix string) string {
	if prefix == "" {
		return DefaultAPIPrefix
	}
	return prefix
}
