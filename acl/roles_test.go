package acl_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/internal/securetest"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

func kv(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	return js.KeyValue(ctx, bucket)
}

// put writes key in bucket as KV's Put does: a JetStream publish to its subject.
func put(bucket, key string, js jetstream.JetStream) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.Publish(ctx, subjects.KVSubject(bucket, key), []byte("x"))
		return err
	}
}

// createDurable makes node's durable runner consumer on the runs stream as a runner
// does, filtered on the launches of filterNode.
func createDurable(js jetstream.JetStream, node, filterNode string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
			Durable: subjects.DurableName(node), FilterSubject: subjects.LaunchFilter(filterNode), AckPolicy: jetstream.AckExplicitPolicy,
		})
		return err
	}
}

// liveLine publishes a line on a live output subject from pub, and fails unless sub
// receives it.
func liveLine(pub, sub *nats.Conn, subject string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		s, err := sub.SubscribeSync(subject)
		if err != nil {
			return err
		}
		defer s.Unsubscribe()
		if err := sub.Flush(); err != nil {
			return err
		}
		if err := pub.Publish(subject, []byte("line\n")); err != nil {
			return err
		}
		_, err = s.NextMsgWithContext(ctx)
		return err
	}
}

func TestRolesAreRefusedWhatTheyMustNotDo(t *testing.T) {
	s := securetest.New(t, "test", "web-1", "web-2").Start(t, 3, nil)
	server := s.Login(t, "server.creds")
	server.Allowed(t, "server provisions the buckets and the stream", func(ctx context.Context) error {
		return subjects.Provision(ctx, server.JS, subjects.DefaultLayout(3, 2*time.Second))
	})
	admin := s.Login(t, "admin.creds")
	reader := s.Login(t, "reader.creds")
	web1 := s.Login(t, "runner-web-1.creds")
	spec := "periodic: {cron: \"@every 1s\"}\ntask: {config: {command: /bin/true}}\n"
	at := time.Unix(1476824400, 0)
	runOutput := subjects.OutputSubject(subjects.RunKey("hello", at))
	web1Output := subjects.OutputSubject(subjects.NodeRunKey("hello", at, "web-1"))
	web2Output := subjects.OutputSubject(subjects.NodeRunKey("hello", at, "web-2"))

	t.Run("anonymous", func(t *testing.T) {
		_, err := nats.Connect(s.Servers.URLs(), nats.Secure(s.ClientTLS(t)), nats.Timeout(2*time.Second))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous connect: %v, want an authorization violation", err)
		}
	})
	t.Run("a plaintext client", func(t *testing.T) {
		path := s.Creds("admin.creds")
		_, err := nats.Connect(s.Servers.URLs(), nats.UserCredentials(path), nats.Timeout(2*time.Second))
		if err == nil {
			t.Fatal("a client without the CA connected")
		}
	})
	t.Run("admin", func(t *testing.T) {
		admin.Allowed(t, "put a job", func(ctx context.Context) error {
			b, err := kv(ctx, admin.JS, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = b.Put(ctx, "hello", []byte(spec))
			return err
		})
		admin.Allowed(t, "manage streams", func(ctx context.Context) error {
			if _, err := admin.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "scratch", Subjects: []string{"scratch.>"}}); err != nil {
				return err
			}
			return admin.JS.DeleteStream(ctx, "scratch")
		})
	})
	t.Run("reader", func(t *testing.T) {
		reader.Allowed(t, "read a job", func(ctx context.Context) error {
			b, err := kv(ctx, reader.JS, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = b.Get(ctx, "hello")
			return err
		})
		reader.Allowed(t, "list the jobs (a watch)", func(ctx context.Context) error {
			b, err := kv(ctx, reader.JS, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = operator.Keys(ctx, b, "*")
			return err
		})
		reader.Allowed(t, "read the runs stream by direct get", func(ctx context.Context) error {
			st, err := reader.JS.Stream(ctx, subjects.RunsStream)
			if err != nil {
				return err
			}
			_, err = st.GetLastMsgForSubject(ctx, subjects.RunsSubjects)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			return err
		})
		reader.Allowed(t, "follow a run's live output", liveLine(admin.NC, reader.NC, runOutput))
		reader.Refused(t, runOutput, liveLine(reader.NC, admin.NC, runOutput))
		reader.Refused(t, "$KV.jobs.hello", put(subjects.JobsBucket, "hello", reader.JS))
		reader.Refused(t, "$KV.nodes.web-1", put(subjects.NodesBucket, "web-1", reader.JS))
		reader.Refused(t, "$JS.API.CONSUMER.CREATE.runs", createDurable(reader.JS, "web-1", "web-1"))
		reader.Refused(t, "$JS.API.STREAM.DELETE.KV_jobs", func(ctx context.Context) error {
			return reader.JS.DeleteStream(ctx, subjects.KVStream(subjects.JobsBucket))
		})
	})
	t.Run("runner", func(t *testing.T) {
		web1.Refused(t, "$KV.jobs.evil", put(subjects.JobsBucket, "evil", web1.JS))
		web1.Refused(t, "$KV.nodes.web-2", put(subjects.NodesBucket, "web-2", web1.JS))
		web1.Allowed(t, "write its own node record", put(subjects.NodesBucket, "web-1", web1.JS))
		web1.Allowed(t, "publish a run's live output", liveLine(web1.NC, admin.NC, runOutput))
		web1.Allowed(t, "publish its own sysbatch run's live output", liveLine(web1.NC, admin.NC, web1Output))
		web1.Refused(t, web2Output, liveLine(web1.NC, admin.NC, web2Output))
		web1.Refused(t, subjects.OutputFilter, liveLine(admin.NC, web1.NC, subjects.OutputFilter))
		web1.Allowed(t, "make its own consumer", createDurable(web1.JS, "web-1", "web-1"))
		web1.Refused(t, "runner-web-2", createDurable(web1.JS, "web-2", "web-2"))
		web1.Refused(t, subjects.LaunchFilter("web-2"), createDurable(web1.JS, "web-1", "web-2"))
		web1.Refused(t, "$JS.API.CONSUMER.MSG.NEXT.runs.runner-web-2", func(ctx context.Context) error {
			_, err := web1.NC.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.runs.runner-web-2", []byte(`{"batch":1}`))
			return err
		})
		web1.Refused(t, subjects.LaunchSubject("web-2", "evil"), func(ctx context.Context) error {
			_, err := web1.JS.Publish(ctx, subjects.LaunchSubject("web-2", "evil"), []byte("{}"))
			return err
		})
		web1.Refused(t, "runs.launch.>", func(ctx context.Context) error {
			sub, err := web1.NC.SubscribeSync("runs.launch.>")
			if err != nil {
				return err
			}
			if _, err := sub.NextMsg(time.Second); err != nil {
				return err
			}
			return nil
		})
	})
	t.Run("server", func(t *testing.T) {
		server.Refused(t, "$KV.jobs.evil", put(subjects.JobsBucket, "evil", server.JS))
		server.Refused(t, "$KV.nodes.web-1", put(subjects.NodesBucket, "web-1", server.JS))
		server.Refused(t, "$JS.API.STREAM.DELETE.KV_jobs", func(ctx context.Context) error {
			return server.JS.DeleteStream(ctx, subjects.KVStream(subjects.JobsBucket))
		})
		server.Refused(t, "$JS.API.STREAM.UPDATE.KV_jobs", func(ctx context.Context) error {
			_, err := server.JS.UpdateStream(ctx, jetstream.StreamConfig{Name: subjects.KVStream(subjects.JobsBucket), Subjects: []string{"$KV.jobs.>"}})
			return err
		})
		server.Refused(t, "$JS.API.STREAM.PURGE.KV_jobs", func(ctx context.Context) error {
			st, err := server.JS.Stream(ctx, subjects.KVStream(subjects.JobsBucket))
			if err != nil {
				return err
			}
			return st.Purge(ctx)
		})
		server.Allowed(t, "trim old run records and output (runs_per_job)", func(ctx context.Context) error {
			for _, b := range []string{subjects.RunStateBucket, subjects.LogsBucket} {
				st, err := server.JS.Stream(ctx, subjects.KVStream(b))
				if err != nil {
					return err
				}
				if err := st.Purge(ctx, jetstream.WithPurgeSubject(subjects.KVSubject(b, "gone.>")), jetstream.WithPurgeKeep(100)); err != nil {
					return err
				}
			}
			return nil
		})
		server.Allowed(t, "keep the run history for server.run_history", func(ctx context.Context) error {
			return subjects.Provision(ctx, server.JS, subjects.Layout{Replicas: 1, LockTTL: time.Second, History: 9 * 24 * time.Hour, RunsMaxBytes: 1 << 30})
		})
		server.Allowed(t, "follow a run's live output (the HTTP API)", liveLine(admin.NC, server.NC, runOutput))
		server.Refused(t, runOutput, liveLine(server.NC, admin.NC, runOutput))
		server.Allowed(t, "publish a launch", func(ctx context.Context) error {
			_, err := server.JS.Publish(ctx, subjects.LaunchSubject("web-2", "hello"), []byte("{}"))
			return err
		})
		server.Allowed(t, "follow the run events (metrics)", func(ctx context.Context) error {
			_, err := server.JS.OrderedConsumer(ctx, subjects.RunsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjects.EventFilter}})
			return err
		})
		server.Refused(t, subjects.LaunchFilter("web-2"), func(ctx context.Context) error {
			_, err := server.JS.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: "thief", FilterSubject: subjects.LaunchFilter("web-2"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
	})
}

func TestRevokedCredsAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a NATS server")
	}
	f := securetest.New(t, "test", "web-1", "web-2")
	lost := f.Creds(acl.CredsFile(acl.RoleRunner, "web-2"))
	id, err := acl.ReadIdentity(lost)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := acl.Revoke(f.ACLDir, lost); err != nil || pub != id.Public {
		t.Fatalf("revoke: %q, %v; want %q", pub, err, id.Public)
	}
	s := f.Start(t, 1, nil)
	if _, err := nats.Connect(s.Servers.URLs(), nats.UserCredentials(lost), nats.Secure(s.ClientTLS(t))); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("revoked credentials: %v, want an authorization violation", err)
	}
	s.Login(t, acl.CredsFile(acl.RoleRunner, "web-1")) // the others still work
}
