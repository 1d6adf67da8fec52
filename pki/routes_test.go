package pki_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/internal/securetest"
	"github.com/jetcron/jetcron/pki"
)

// With verify_server_hostname, a peer that dials the routes with a certificate of
// the same CA that does not name server.<region>.jetcron (a client's) is refused;
// one with a server certificate joins.
func TestRoutesRefuseAPeerWithoutAServerCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	f := securetest.NewTLS(t, "test")
	for _, c := range []struct {
		peerCert string
		joins    bool
	}{{"client", false}, {"server", true}} {
		t.Run(c.peerCert, func(t *testing.T) {
			type tlsPair struct{ client, cluster *tls.Config }
			var pairs []tlsPair
			for _, name := range []string{"server", c.peerCert} {
				client, cluster, err := pki.ServerTLS(f.TLSBlock(name), f.Region)
				if err != nil {
					t.Fatal(err)
				}
				pairs = append(pairs, tlsPair{client, cluster})
			}
			servers := embedtest.StartDirect(t, 2, embedtest.WithOptions(func(i int, o *embed.Options) {
				o.TLS, o.ClusterTLS, o.BootstrapExpect = pairs[i].client, pairs[i].cluster, 1
			}))
			deadline := time.Now().Add(5 * time.Second)
			routed := false
			for !routed && time.Now().Before(deadline) {
				rz, err := servers[0].NATS().Routez(nil)
				if err != nil {
					t.Fatal(err)
				}
				routed = len(rz.Routes) > 0
				time.Sleep(100 * time.Millisecond)
			}
			if routed != c.joins {
				t.Errorf("a peer with a %s certificate: routed %v, want %v", c.peerCert, routed, c.joins)
			}
		})
	}
}
