package embedtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Every route between two servers of a Cluster goes through a link: a TCP
// forwarder that the Cluster can cut. A server in the same process cannot be
// SIGKILLed, and nats-server steps its Raft leaders down on any Shutdown, so
// Kill cuts the server's links first: like a crash, its peers see the route
// drop and hear nothing more from it, and must elect new leaders after the
// Raft election timeout.
//
// Server i lists its own cluster address (harmless) and link (i→j) for each
// peer j as its Routes, so NATS sizes the meta group to n as with real
// routes. It advertises refusedAddr, so that gossip never makes a peer route
// to it around the links.

// link forwards connections from a fixed local port to a server's cluster
// port, and can be cut (listener and connections closed) and restored on the
// same port.
type link struct {
	from, to int
	addr     string // where it listens: 127.0.0.1:port
	target   string // the server's cluster address

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(from, to int, addr, target string) *link {
	return &link{from: from, to: to, addr: addr, target: target, conns: map[net.Conn]struct{}{}}
}

// up starts listening; it retries briefly while the port is still held.
func (l *link) up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(2 * time.Second); ; {
		if ln, err = net.Listen("tcp", l.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("route link %d→%d on %s: %w", l.from, l.to, l.addr, err)
	}
	l.ln = ln
	l.wg.Add(1)
	go l.accept(ln)
	return nil
}

func (l *link) accept(ln net.Listener) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go l.forward(c)
	}
}

func (l *link) forward(in net.Conn) {
	defer l.wg.Done()
	out, err := net.DialTimeout("tcp", l.target, time.Second)
	if err != nil {
		in.Close()
		return
	}
	if !l.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done // either side ended: end both, as a route does
	in.Close()
	out.Close()
	<-done
	l.untrack(in, out)
}

func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil { // cut while dialling
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

func (l *link) untrack(cs ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		delete(l.conns, c)
	}
}

// cut closes the listener and every connection through the link, and waits
// until its goroutines are gone.
func (l *link) cut() {
	l.mu.Lock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// refusedAddr is what servers advertise to their peers: gossip about a
// server then makes its peers try an implicit route there once, which is
// refused (nothing listens on privileged port 1), and they give up; their
// routes through the links stay the only ones. An address that accepted and
// closed connections instead would be retried in a tight loop.
const refusedAddr = "127.0.0.1:1"

// network is the links of a cluster of n servers.
type network struct {
	n     int
	links map[[2]int]*link // (from, to)
}

// newNetwork picks the ports of n servers' cluster listeners and of the
// links between them, and starts the links.
func newNetwork(n int) (*network, []int, error) {
	ports, err := FreePorts(n + n*(n-1))
	if err != nil {
		return nil, nil, err
	}
	nw := &network{n: n, links: map[[2]int]*link{}}
	clusterPorts, linkPorts := ports[:n], ports[n:]
	for from := range n {
		for to := range n {
			if from == to {
				continue
			}
			p := linkPorts[0]
			linkPorts = linkPorts[1:]
			nw.links[[2]int{from, to}] = newLink(from, to,
				addr(p), addr(clusterPorts[to]))
		}
	}
	for _, l := range nw.links {
		if err := l.up(); err != nil {
			nw.close()
			return nil, nil, err
		}
	}
	return nw, clusterPorts, nil
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// routes is what server i lists as Routes: itself, then its links.
func (nw *network) routes(i int, clusterPorts []int) []string {
	r := []string{addr(clusterPorts[i])}
	for to := range nw.n {
		if to != i {
			r = append(r, nw.links[[2]int{i, to}].addr)
		}
	}
	return r
}

// isolate cuts every link from or to server i.
func (nw *network) isolate(i int) {
	var wg sync.WaitGroup
	for k, l := range nw.links {
		if k[0] == i || k[1] == i {
			wg.Go(l.cut)
		}
	}
	wg.Wait()
}

// join restores every link from or to server i.
func (nw *network) join(i int) error {
	var errs []error
	for k, l := range nw.links {
		if k[0] == i || k[1] == i {
			errs = append(errs, l.up())
		}
	}
	return errors.Join(errs...)
}

func (nw *network) close() {
	for _, l := range nw.links {
		l.cut()
	}
}
