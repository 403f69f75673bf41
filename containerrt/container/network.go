package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Egress for containers granted network (Spec.Network), documented in
// docs/rationale.md: every such container gets a veth pair whose host end
// is an isolated port of the bridge wisp0 (ports cannot reach each other)
// and whose other end is eth0 in the container, with an address from
// BridgeSubnet and a default route through the bridge. The host forwards
// and masquerades the subnet's traffic out, refuses everything that comes
// from the bridge to the host itself (so an action cannot reach wispd's
// ports, or anything listening on the host), and drops traffic to
// link-local addresses (cloud metadata services).
const (
	// BridgeName is the host bridge of network-granted containers.
	BridgeName = "wisp0"
	// BridgeSubnet is their private subnet; the bridge is its .1.
	BridgeSubnet = "10.88.0.0/24"

	// leaseDir holds one lock file per address of the subnet: a process
	// holds an address while it holds the file's flock, which the kernel
	// releases when the process dies, so daemons (and test binaries) on
	// one host share the subnet and a crash leaks nothing.
	leaseDir = "/run/wisp/net"

	chainInput   = "WISP-INPUT"
	chainForward = "WISP-FORWARD"
	chainNAT     = "WISP-POSTROUTING"
)

// hostNet is the shared host side: the bridge, the rules and the
// addresses handed out. It is set up on the first network-granted start.
type hostNet struct {
	mu     sync.Mutex
	ready  bool
	bridge netlink.Link
	subnet *net.IPNet
}

// netLink is one container's share of the host network.
type netLink struct {
	h       *hostNet
	ip      net.IP
	host    string // host end of the veth, on the bridge
	peer    string // the container end until it is renamed eth0
	release func()
}

// network reserves an address and a veth name for container id and adds
// the container's /etc/resolv.conf; attach creates the link once the
// container's network namespace exists.
func (m *Manager) network(ctx context.Context, id string, cfg *configs.Config) (*netLink, error) {
	h := &m.net
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready {
		if err := h.setup(ctx); err != nil {
			return nil, err
		}
		h.ready = true
	}
	n, lease, err := leaseAddress()
	if err != nil {
		return nil, err
	}
	ip := make(net.IP, 4)
	copy(ip, h.subnet.IP.To4())
	ip[3] = byte(n)
	sum := sha256.Sum256([]byte(m.parent + "/" + id))
	tag := hex.EncodeToString(sum[:6])
	l := &netLink{h: h, ip: ip, host: "wv" + tag, peer: "wp" + tag}
	var once sync.Once
	l.release = func() {
		once.Do(func() {
			if link, err := netlink.LinkByName(l.host); err == nil {
				_ = netlink.LinkDel(link) // deletes both ends
			}
			_ = lease.Close() // releases the flock
		})
	}
	if conf, err := m.resolvConf(); err != nil {
		m.log.Warn("no DNS for network-granted containers", "err", err)
	} else if fi, err := os.Stat(filepath.Join(cfg.Rootfs, "etc")); err == nil && fi.IsDir() {
		cfg.Mounts = append(cfg.Mounts, &configs.Mount{
			Source: conf, Destination: "/etc/resolv.conf", Device: "bind",
			Flags: unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
		})
	}
	return l, nil
}

// attach makes the veth pair, moves one end into the network namespace of
// pid (the container's init, before it executes the action loop) and
// configures it there as eth0.
func (l *netLink) attach(pid int) error {
	la := netlink.NewLinkAttrs()
	la.Name = l.host
	la.MTU = l.h.bridge.Attrs().MTU
	veth := &netlink.Veth{LinkAttrs: la, PeerName: l.peer}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", l.host, err)
	}
	host, err := netlink.LinkByName(l.host)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", l.host, err)
	}
	if err := netlink.LinkSetMaster(host, l.h.bridge); err != nil {
		return fmt.Errorf("attach %s to %s: %w", l.host, BridgeName, err)
	}
	// Isolated bridge ports talk to the bridge (the route out), never to
	// one another: one action cannot reach another.
	if err := netlink.LinkSetIsolated(host, true); err != nil {
		return fmt.Errorf("isolate %s: %w", l.host, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", l.host, err)
	}
	peer, err := netlink.LinkByName(l.peer)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", l.peer, err)
	}
	if err := netlink.LinkSetNsPid(peer, pid); err != nil {
		return fmt.Errorf("move %s into the container: %w", l.peer, err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open the container's network namespace: %w", err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the container's namespace: %w", err)
	}
	defer nh.Close()
	in, err := nh.LinkByName(l.peer)
	if err != nil {
		return fmt.Errorf("find %s in the container: %w", l.peer, err)
	}
	if err := nh.LinkSetName(in, "eth0"); err != nil {
		return fmt.Errorf("rename %s to eth0: %w", l.peer, err)
	}
	mask := l.h.subnet.Mask
	if err := nh.AddrAdd(in, &netlink.Addr{IPNet: &net.IPNet{IP: l.ip, Mask: mask}}); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := nh.LinkSetUp(in); err != nil {
		return fmt.Errorf("set eth0 up: %w", err)
	}
	gw := bridgeIP(l.h.subnet)
	if err := nh.RouteAdd(&netlink.Route{LinkIndex: in.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	return nil
}

// IP is the container's address, or nil without network.
func (c *Container) IP() net.IP {
	if c.net == nil {
		return nil
	}
	return c.net.ip
}

func bridgeIP(subnet *net.IPNet) net.IP {
	ip := make(net.IP, 4)
	copy(ip, subnet.IP.To4())
	ip[3] = 1
	return ip
}

// leaseAddress takes the first free host part (2–254) of the subnet.
func leaseAddress() (int, *os.File, error) {
	if err := os.MkdirAll(leaseDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("address leases: %w", err)
	}
	for n := 2; n < 255; n++ {
		f, err := os.OpenFile(filepath.Join(leaseDir, fmt.Sprintf("%d.lease", n)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return 0, nil, fmt.Errorf("address lease: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			return n, f, nil
		}
		_ = f.Close()
	}
	return 0, nil, fmt.Errorf("no free address in %s: too many containers with network", BridgeSubnet)
}

// hostLock serialises the host setup between processes.
func hostLock() (func(), error) {
	if err := os.MkdirAll(leaseDir, 0o700); err != nil {
		return nil, fmt.Errorf("host network lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(leaseDir, "setup.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("host network lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("host network lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}

// setup makes the bridge, turns on forwarding and installs the rules.
// Everything is idempotent, so a restarted daemon finds it in place, and
// serialised between processes.
func (h *hostNet) setup(ctx context.Context) error {
	unlock, err := hostLock()
	if err != nil {
		return err
	}
	defer unlock()
	_, subnet, err := net.ParseCIDR(BridgeSubnet)
	if err != nil {
		return err
	}
	h.subnet = subnet
	br, err := netlink.LinkByName(BridgeName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("find bridge %s: %w", BridgeName, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = BridgeName
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add bridge %s: %w", BridgeName, err)
		}
		if br, err = netlink.LinkByName(BridgeName); err != nil {
			return fmt.Errorf("find bridge %s: %w", BridgeName, err)
		}
	}
	// No IPv6 on the bridge: the host would otherwise be reachable from
	// the containers at its link-local address, past the IPv4 rules.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+BridgeName+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disable IPv6 on %s: %w", BridgeName, err)
	}
	ones, _ := subnet.Mask.Size()
	addr, _ := netlink.ParseAddr(fmt.Sprintf("%s/%d", bridgeIP(subnet), ones))
	if err := netlink.AddrReplace(br, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", BridgeName, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge %s up: %w", BridgeName, err)
	}
	h.bridge = br
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return installRules(ctx)
}

// installRules puts Wisp's rules in chains of their own, jumped to first
// from INPUT, FORWARD and nat POSTROUTING. When every rule is in place
// nothing changes (other daemons' containers keep their protection); when
// one is missing (a first start, an older version), the chains are flushed
// and refilled, so that the rules are exactly these, in this order.
func installRules(ctx context.Context) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("network for containers needs iptables (Debian package iptables; scripts/deps.sh installs it): %w", err)
	}
	for _, c := range []struct{ table, chain, parent string }{
		{"filter", chainInput, "INPUT"}, {"filter", chainForward, "FORWARD"}, {"nat", chainNAT, "POSTROUTING"},
	} {
		if iptables(ctx, "-t", c.table, "-n", "-L", c.chain) != nil {
			if err := iptables(ctx, "-t", c.table, "-N", c.chain); err != nil {
				return err
			}
		}
		if iptables(ctx, "-t", c.table, "-C", c.parent, "-j", c.chain) != nil {
			if err := iptables(ctx, "-t", c.table, "-I", c.parent, "1", "-j", c.chain); err != nil {
				return err
			}
		}
	}
	rules := [][]string{
		// Nothing from the containers reaches the host itself.
		// REJECT rather than DROP: an action learns at once that the
		// address is closed to it instead of waiting for a time-out.
		// TCP gets a reset: an ICMP error is only a soft error to a TCP
		// connect, which would retry until its own time-out.
		{"-t", "filter", "-A", chainInput, "-i", BridgeName, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
		{"-t", "filter", "-A", chainInput, "-i", BridgeName, "-j", "REJECT"},
		// Not one another (when bridged traffic passes iptables), not
		// link-local addresses; everything else goes out, and only
		// replies come back.
		{"-t", "filter", "-A", chainForward, "-i", BridgeName, "-o", BridgeName, "-j", "REJECT"},
		{"-t", "filter", "-A", chainForward, "-i", BridgeName, "-d", "169.254.0.0/16", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
		{"-t", "filter", "-A", chainForward, "-i", BridgeName, "-d", "169.254.0.0/16", "-j", "REJECT"},
		{"-t", "filter", "-A", chainForward, "-i", BridgeName, "-j", "ACCEPT"},
		{"-t", "filter", "-A", chainForward, "-o", BridgeName, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		{"-t", "filter", "-A", chainForward, "-o", BridgeName, "-j", "DROP"},
		{"-t", "nat", "-A", chainNAT, "-s", BridgeSubnet, "!", "-o", BridgeName, "-j", "MASQUERADE"},
	}
	complete := true
	for _, r := range rules {
		check := slices.Clone(r)
		check[2] = "-C" // "-t", table, "-A", chain, ...
		if iptables(ctx, check...) != nil {
			complete = false
			break
		}
	}
	if complete {
		return nil
	}
	for _, c := range [][2]string{{"filter", chainInput}, {"filter", chainForward}, {"nat", chainNAT}} {
		if err := iptables(ctx, "-t", c[0], "-F", c[1]); err != nil {
			return err
		}
	}
	for _, r := range rules {
		if err := iptables(ctx, r...); err != nil {
			return err
		}
	}
	return nil
}

func iptables(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// resolvConf writes (once) the resolv.conf given to network-granted
// containers: the host's name servers, except loopback ones, which the
// container cannot reach.
func (m *Manager) resolvConf() (string, error) {
	m.resolvOnce.Do(func() {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			m.resolvErr = fmt.Errorf("read the host's resolv.conf: %w", err)
			return
		}
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "nameserver" {
				if ip := net.ParseIP(f[1]); ip == nil || ip.IsLoopback() {
					continue
				}
			} else if len(f) == 0 || (f[0] != "search" && f[0] != "options" && f[0] != "domain") {
				continue
			}
			keep = append(keep, line)
		}
		p := filepath.Join(m.stateDir, "resolv.conf")
		if err := os.WriteFile(p, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
			m.resolvErr = fmt.Errorf("write resolv.conf: %w", err)
			return
		}
		m.resolvPath = p
	})
	return m.resolvPath, m.resolvErr
}
