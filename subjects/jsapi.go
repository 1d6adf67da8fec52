package subjects

import "strings"

// JetStream's own names that jetcron uses: the stream behind a KV bucket, the subject
// of a bucket key, and the API requests made by hand (nats.go has no call for them).

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

// KeyOfSubject is KVSubject read back for bucket; ok is false for another bucket's.
func KeyOfSubject(bucket, subject string) (key string, ok bool) {
	return strings.CutPrefix(subject, kvSubjectPrefix+bucket+".")
}

// MsgGetAPI is the subject of the stream's MSG.GET request, which its leader answers
// (unlike a direct get, which any replica answers from its own copy). apiPrefix is
// the JetStream context's ("" for DefaultAPIPrefix).
func MsgGetAPI(apiPrefix, stream string) string { return apiOr(apiPrefix) + "STREAM.MSG.GET." + stream }

// StreamStepDownAPI is the subject of a request to the stream's leader to hand its
// leadership over.
func StreamStepDownAPI(stream string) string {
	return DefaultAPIPrefix + "STREAM.LEADER.STEPDOWN." + stream
}

// ConsumerStepDownAPI is StreamStepDownAPI for one of the stream's consumers.
func ConsumerStepDownAPI(stream, consumer string) string {
	return DefaultAPIPrefix + "CONSUMER.LEADER.STEPDOWN." + stream + "." + consumer
}

func apiOr(prefix string) string {
	if prefix == "" {
		return DefaultAPIPrefix
	}
	return prefix
}
