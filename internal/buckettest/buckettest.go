// Package buckettest starts what most tests of jetcron's readers need: one embedded
// NATS server with jetcron's buckets and stream provisioned, and a connection to it.
// (embedtest knows nothing of jetcron's buckets; this package adds them.)
package buckettest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

// Env is a provisioned one-server cluster and a client of it.
type Env struct {
	Cluster *embedtest.Cluster
	NC      *nats.Conn
	JS      jetstream.JetStream
	Buckets *subjects.Buckets
}

// New starts the server and provisions the buckets, or skips the test in -short mode.
// The test's cleanup stops everything.
func New(t *testing.T) *Env { return NewCluster(t, 1) }

// NewCluster is New with a cluster of n servers (R3 buckets and stream when n ≥ 3),
// the client connected to all of them.
func NewCluster(t *testing.T, n int) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs embedded NATS servers")
	}
	c := embedtest.NewCluster(t, n)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Right after a cluster is ready, R3 placement may still find a peer offline
	// (10005) for a moment under load: provision again.
	for {
		err := subjects.Provision(ctx, js, subjects.DefaultLayout(n, 2*time.Second))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("provision: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := subjects.Bind(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Cluster: c, NC: nc, JS: js, Buckets: b}
}
