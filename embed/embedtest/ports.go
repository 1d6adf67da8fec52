package embedtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// Ports below the kernel's ephemeral range: a port picked there cannot be
// taken by the source port of some process's outgoing connection between
// the moment it is picked and the moment a server listens on it, nor while a
// killed server is down before Restart. (CI once lost a test to exactly
// that: a route port picked with 127.0.0.1:0, taken before the server
// bound it.)
const (
	lowestPort         = 10000
	defaultEphemeralLo = 32768 // Linux's default ip_local_port_range start
)

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago, chosen at random below the ephemeral port range.
func FreePorts(n int) ([]int, error) {
	hi := ephemeralLow()
	held := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range held { // held until the end, so the n differ
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("pick %d free ports in %d-%d: only %d found", n, lowestPort, hi-1, len(ports))
		}
		p := lowestPort + rand.IntN(hi-lowestPort)
		l, err := net.Listen("tcp", addr(p))
		if err != nil {
			continue // in use: pick another
		}
		held = append(held, l)
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralLow is where the kernel's ephemeral port range begins.
func ephemeralLow() int {
	var lo, hi int
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLo
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= lowestPort+1000 {
		return defaultEphemeralLo
	}
	return lo
}
