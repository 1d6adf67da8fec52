package subjects

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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

func TestAPISubjectsOfStreamsAndConsumers(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{API("STREAM", "NAMES"), "$JS.API.STREAM.NAMES"},
		{StreamAPI("INFO", KVStream(NodesBucket)), "$JS.API.STREAM.INFO.KV_nodes"},
		{ConsumerAPI("CREATE", RunsStream), "$JS.API.CONSUMER.CREATE.runs"},
		{ConsumerAPI("CREATE", RunsStream, "runner-web-1", LaunchFilter("web-1")),
			"$JS.API.CONSUMER.CREATE.runs.runner-web-1.runs.launch.web-1.>"},
		{ConsumerAPI("MSG.NEXT", RunsStream, "runner-web-1"), "$JS.API.CONSUMER.MSG.NEXT.runs.runner-web-1"},
		{DirectGetAPI(KVStream(NodesBucket), KVSubject(NodesBucket, "web-1")), "$JS.API.DIRECT.GET.KV_nodes.$KV.nodes.web-1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestAckFiltersMatchBothAckForms(t *testing.T) {
	one := AckFilters(RunsStream, "runner-web-1")
	if !slices.Equal(one, []string{"$JS.ACK.runs.runner-web-1.>", "$JS.ACK.*.*.runs.runner-web-1.>"}) {
		t.Errorf("AckFilters of a consumer = %q", one)
	}
	every := AckFilters(RunsStream, "")
	if !slices.Equal(every, []string{"$JS.ACK.runs.>", "$JS.ACK.*.*.runs.>"}) {
		t.Errorf("AckFilters of every consumer = %q", every)
	}
	if FlowControlFilter != "$JS.FC.>" {
		t.Errorf("FlowControlFilter = %q", FlowControlFilter)
	}
}

func TestInboxPrefixesAreApartFromTheDefault(t *testing.T) {
	if DefaultInboxPrefix+"." != nats.InboxPrefix {
		t.Fatalf("DefaultInboxPrefix %q is not nats.go's %q", DefaultInboxPrefix, nats.InboxPrefix)
	}
	for _, c := range []struct{ role, node, want string }{
		{"server", "", "_INBOX_server"},
		{"runner", "", "_INBOX_runner"},
		{"runner", "web.1", "_INBOX_runner_web=2E1"},
	} {
		got := InboxPrefix(c.role, c.node)
		if got != c.want || strings.HasPrefix(got+".", nats.InboxPrefix) {
			t.Errorf("InboxPrefix(%q, %q) = %q, want %q, below no default inbox", c.role, c.node, got, c.want)
		}
	}
}
