package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// netns is the network of a cluster whose servers live in namespaces: a bridge in
// the root namespace with address .1, and per server a namespace with a veth pair
// whose inner end has address .10+i. Runner hosts, the harness and the CLIs stay in
// the root namespace and reach the servers through the bridge.
type netns struct {
	id     string
	subnet string // "10.A.B"
	n      int
	tool   string // "nft" or "iptables"
	log    func(string, ...any)
}

// NetnsSupported reports why Options.Netns cannot work here, or nil if it can: it
// needs root, the ip command, network namespaces, veth and bridges, and nft or
// iptables for Partition.
func NetnsSupported(ctx context.Context) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command (iproute2) is missing: %w", err)
	}
	if _, err := partitionTool(); err != nil {
		return err
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("jcprobe%x", b)
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	br := "jcpb" + fmt.Sprintf("%x", b)
	if out, err := exec.CommandContext(ctx, "ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link add type bridge: %v: %s", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "link", "del", br).Run()
	if out, err := exec.CommandContext(ctx, "ip", "link", "add", br+"a", "type", "veth", "peer", "name", br+"b").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link add type veth: %v: %s", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "link", "del", br+"a").Run()
	return nil
}

func partitionTool() (string, error) {
	if _, err := exec.LookPath("nft"); err == nil {
		return "nft", nil
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		return "iptables", nil
	}
	return "", errors.New("neither nft (nftables) nor iptables is installed")
}

func newNetns(ctx context.Context, id string, n int, log func(string, ...any)) (*netns, error) {
	tool, err := partitionTool()
	if err != nil {
		return nil, err
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	nn := &netns{id: id, subnet: fmt.Sprintf("10.%d.%d", 100+int(b[0])%100, b[1]), n: n, tool: tool, log: log}
	ok := false
	defer func() {
		if !ok {
			nn.close()
		}
	}()
	br := nn.bridge()
	cmds := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", nn.subnet + ".1/24", "dev", br},
		{"ip", "link", "set", br, "up"},
	}
	for i := range n {
		ns, host, peer := nn.nsName(i), nn.vethHost(i), nn.vethPeer(i)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", host, "type", "veth", "peer", "name", peer},
			[]string{"ip", "link", "set", peer, "netns", ns},
			[]string{"ip", "link", "set", host, "master", br},
			[]string{"ip", "link", "set", host, "up"},
			[]string{"ip", "netns", "exec", ns, "ip", "addr", "add", nn.serverIP(i) + "/24", "dev", peer},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", peer, "up"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		)
	}
	for _, c := range cmds {
		if err := sh(ctx, nil, c...); err != nil {
			return nil, err
		}
	}
	log("network: bridge %s %s.1/24, servers in namespaces %s.10-%d (partitions with %s)", br, nn.subnet, nn.subnet, 9+n, tool)
	ok = true
	return nn, nil
}

func (nn *netns) bridge() string            { return "jcbr" + nn.id }
func (nn *netns) nsName(i int) string       { return fmt.Sprintf("jc%s-s%d", nn.id, i+1) }
func (nn *netns) vethHost(i int) string     { return fmt.Sprintf("jc%ss%d", nn.id, i+1) }
func (nn *netns) vethPeer(i int) string     { return fmt.Sprintf("jc%sp%d", nn.id, i+1) }
func (nn *netns) serverIP(i int) string     { return fmt.Sprintf("%s.%d", nn.subnet, 10+i) }
func (nn *netns) chainTable() string        { return "jcpart" }
func (nn *netns) nsExec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// isolate drops, inside ns, every packet to or from peers (or, with all, every
// packet on its veth).
func (nn *netns) isolate(ctx context.Context, ns string, peers []string, all bool) error {
	if err := nn.heal(ctx, ns); err != nil {
		return err
	}
	match := "ip saddr { " + strings.Join(peers, ", ") + " }"
	matchOut := "ip daddr { " + strings.Join(peers, ", ") + " }"
	if all {
		match, matchOut = "iifname != \"lo\"", "oifname != \"lo\""
	}
	switch nn.tool {
	case "nft":
		script := fmt.Sprintf(`table inet %[1]s {
  chain pin { type filter hook input priority 0; policy accept; %[2]s drop; }
  chain pout { type filter hook output priority 0; policy accept; %[3]s drop; }
}
`, nn.chainTable(), match, matchOut)
		return sh(ctx, []byte(script), append(nn.nsExec(ns), "nft", "-f", "-")...)
	default:
		if all {
			if err := sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-A", "INPUT", "!", "-i", "lo", "-j", "DROP")...); err != nil {
				return err
			}
			return sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-A", "OUTPUT", "!", "-o", "lo", "-j", "DROP")...)
		}
		for _, p := range peers {
			if err := sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-A", "INPUT", "-s", p, "-j", "DROP")...); err != nil {
				return err
			}
			if err := sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-A", "OUTPUT", "-d", p, "-j", "DROP")...); err != nil {
				return err
			}
		}
		return nil
	}
}

// heal removes the rules isolate added in ns.
func (nn *netns) heal(ctx context.Context, ns string) error {
	switch nn.tool {
	case "nft":
		_ = sh(ctx, nil, append(nn.nsExec(ns), "nft", "delete", "table", "inet", nn.chainTable())...)
		return nil
	default:
		_ = sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-F", "INPUT")...)
		_ = sh(ctx, nil, append(nn.nsExec(ns), "iptables", "-F", "OUTPUT")...)
		return nil
	}
}

func (nn *netns) close() error {
	var errs []error
	for i := range nn.n {
		_ = exec.Command("ip", "link", "del", nn.vethHost(i)).Run()
		if out, err := exec.Command("ip", "netns", "del", nn.nsName(i)).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", nn.nsName(i), err, out))
		}
	}
	_ = exec.Command("ip", "link", "del", nn.bridge()).Run()
	return errors.Join(errs...)
}

func sh(ctx context.Context, stdin []byte, argv ...string) error {
	_, err := run(ctx, stdin, argv[0], argv[1:]...)
	return err
}
