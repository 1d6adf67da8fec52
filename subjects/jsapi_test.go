package subjects

import (
	"testing"
	"time"
)

func TestKVStreamReadsBackToItsBucket(t *testing.T) {
	if b, ok := BucketOfStream(KVStream(JobsBucket)); !ok || b != JobsBucket {
		t.Fatalf("BucketOfStream(%q) = %q, %v", KVStream(JobsBucket), b, ok)
	}
	if _, ok := BucketOfStream(RunsStream); ok {
		t.Fatalf("the runs stream read as a bucket's")
	}
}

func TestKVSubjectReadsBackToItsKey(t *testing.T) {
	s := KVSubject(RunStateBucket, RunKey("web-1.example.com", time.Unix(1476824400, 0)))
	if k, ok := KeyOfSubject(RunStateBucket, s); !ok || k != RunKey("web-1.example.com", time.Unix(1476824400, 0)) {
		t.Fatalf("KeyOfSubject(%q) = %q, %v", s, k, ok)
	}
	if _, ok := KeyOfSubject(JobsBucket, s); ok {
		t.Fatalf("a run record's subject read as a job's")
	}
}

func TestAPISubjectsUseTheContextsPrefix(t *testing.T) {
	if got := MsgGetAPI("", "KV_jobs"); got != "$JS.API.STREAM.MSG.GET.KV_jobs" {
		t.Fatalf("MsgGetAPI = %q", got)
	}
	if got := MsgGetAPI("$JS.hub.API.", "KV_jobs"); got != "$JS.hub.API.STREAM.MSG.GET.KV_jobs" {
		t.Fatalf("MsgGetAPI with a domain = %q", got)
	}
	if got := ConsumerStepDownAPI("runs", "c"); got != "$JS.API.CONSUMER.LEADER.STEPDOWN.runs.c" {
		t.Fatalf("ConsumerStepDownAPI = %q", got)
	}
	if got := StreamStepDownAPI("runs"); got != "$JS.API.STREAM.LEADER.STEPDOWN.runs" {
		t.Fatalf("StreamStepDownAPI = %q", got)
	}
}
