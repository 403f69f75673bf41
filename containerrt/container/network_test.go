package container

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// outside is a network namespace standing for the internet: a veth from
// the host (10.99.N.1) to it (10.99.N.2), and a TCP server in it that
// answers "hello" and reports who connected.
type outside struct {
	addr  string      // server address, "10.99.N.2 port" as nc takes it
	hostA string      // the host's address on that link
	peers chan string // remote addresses the server saw
}

func newOutside(t *testing.T) *outside {
	t.Helper()
	tag := randomHex(3)
	name := "wisp-out-" + tag
	v, _ := strconv.ParseUint(tag, 16, 32)
	n := 20 + int(v%200)
	hostIf, nsIf := "wo"+tag+"h", "wo"+tag+"n"
	o := &outside{hostA: fmt.Sprintf("10.99.%d.1", n), peers: make(chan string, 4)}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	sh("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	sh("link", "set", nsIf, "netns", name)
	sh("addr", "add", o.hostA+"/24", "dev", hostIf)
	sh("link", "set", hostIf, "up")
	sh("-n", name, "addr", "add", fmt.Sprintf("10.99.%d.2/24", n), "dev", nsIf)
	sh("-n", name, "link", "set", nsIf, "up")
	sh("-n", name, "link", "set", "lo", "up")

	// A socket belongs to the namespace of the thread that made it.
	ln := make(chan net.Listener, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // this thread ends in another namespace: never unlock
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		l, err := net.Listen("tcp", fmt.Sprintf("10.99.%d.2:0", n))
		if err != nil {
			errc <- err
			return
		}
		ln <- l
	}()
	var l net.Listener
	select {
	case l = <-ln:
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	o.addr = strings.Replace(l.Addr().String(), ":", " ", 1)
	go serveHello(l, o.peers)
	return o
}

func serveHello(l net.Listener, peers chan<- string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		select {
		case peers <- host:
		default:
		}
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("hello\n"))
		c.Close()
	}
}

func connect(t *testing.T, c *Container, to string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	v, _ := json.Marshal(map[string]string{"do": "connect", "to": to})
	res, _, err := c.Run(ctx, RunMessage{Value: v}, 0)
	if err != nil {
		t.Fatalf("connect to %s: %v", to, err)
	}
	var out struct{ Got string }
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatal(err)
	}
	return out.Got
}

func TestNetwork(t *testing.T) {
	m := newTestManager(t)
	out := newOutside(t)

	// A host service, listening on every address.
	hostLn, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go serveHello(hostLn, make(chan string, 16))
	hostPort := hostLn.Addr().(*net.TCPAddr).Port

	spec := testSpec(t, "net-a")
	spec.Network = true
	a := startInit(t, m, spec)
	spec = testSpec(t, "net-b")
	spec.Network = true
	b := startInit(t, m, spec)
	if a.IP() == nil || b.IP() == nil || a.IP().Equal(b.IP()) {
		t.Fatalf("addresses %v and %v", a.IP(), b.IP())
	}

	who, _, err := run(t, a, "whoami", 0)
	if err != nil {
		t.Fatal(err)
	}
	if who["ifaces"] != "1" {
		t.Fatalf("interfaces besides lo: %v", who["ifaces"])
	}

	// Egress works, masqueraded behind the host's address.
	if got := connect(t, a, out.addr); got != "hello" {
		t.Fatalf("egress: got %q", got)
	}
	if peer := <-out.peers; peer != out.hostA {
		t.Fatalf("the outside saw %s, want the host's %s", peer, out.hostA)
	}

	// The host itself is closed, at every one of its addresses.
	targets := []string{BridgeName + " gateway " + bridgeIP(m.net.subnet).String(), "outside link " + out.hostA}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !m.net.subnet.Contains(ipn.IP) && ipn.IP.String() != out.hostA {
				targets = append(targets, "host address "+ipn.IP.String())
			}
		}
	}
	for _, tg := range targets {
		ip := tg[strings.LastIndex(tg, " ")+1:]
		if got := connect(t, a, fmt.Sprintf("%s %d", ip, hostPort)); got != "" {
			t.Errorf("%s reachable from a container: got %q", tg, got)
		}
	}

	// Containers do not reach one another.
	if _, _, err := run(t, b, "listen", 0); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, a, b.IP().String()+" 9000"); got != "" {
		t.Errorf("container b reachable from container a: got %q", got)
	}
	// The listener was there all along: b reaches itself.
	if got := connect(t, b, b.IP().String()+" 9000"); got != "hi" {
		t.Errorf("container b's own listener: got %q", got)
	}

	// Destroy removes the host end of the veth.
	host := a.net.host
	if err := a.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(host); err == nil {
		t.Errorf("veth %s remains", host)
	}
}
