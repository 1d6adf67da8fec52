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
func New(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs an embedded NATS server")
	}
	c := embedtest.NewCluster(t, 1)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := subjects.Provision(ctx, js, subjects.DefaultLayout(1, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := subjects.Bind(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Cluster: c, NC: nc, JS: js, Buckets: b}
}
