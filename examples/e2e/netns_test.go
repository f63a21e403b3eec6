package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// netnsPair is two network namespaces joined by a veth pair: one for the server, one for the
// browsers, so that all media between them crosses one link the test controls.
type netnsPair struct {
	ip, nft string // the commands

	server, browsers     string // namespace names
	serverIf, browserIf  string // their ends of the veth pair
	serverIP, browsersIP string
}

// Addresses inside the test's own namespaces; nothing outside them ever sees these.
const (
	netnsServerIP   = "10.99.0.1"
	netnsBrowsersIP = "10.99.0.2"
)

// lossTable is the nftables table that drops packets, in both namespaces.
const lossTable = "sfu_e2e_loss"

// newNetnsPair makes the namespaces and deletes them when the test ends, failed or not. Without
// root, iproute2 or nftables it skips, or fails in CI.
func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "network namespaces need root: skipping the packet-loss test")
	}
	n := &netnsPair{ip: findTool(t, "ip", "iproute2"), nft: findTool(t, "nft", "nftables")}
	// Names unique to this run: the process id keeps two runs apart, the random part two tests.
	id := fmt.Sprintf("%x%03x", os.Getpid()&0xfffff, rand.N(1<<12))
	n.server, n.browsers = "sfu-e2e-"+id+"-server", "sfu-e2e-"+id+"-browsers"
	n.serverIf, n.browserIf = "sfu"+id+"s", "sfu"+id+"b" // at most 15 bytes
	n.serverIP, n.browsersIP = netnsServerIP, netnsBrowsersIP

	for _, ns := range []string{n.server, n.browsers} {
		if out, err := exec.Command(n.ip, "netns", "add", ns).CombinedOutput(); err != nil {
			skipOrFail(t, fmt.Sprintf("cannot create a network namespace (ip netns add: %v: %s): "+
				"skipping the packet-loss test", err, strings.TrimSpace(string(out))))
		}
		t.Cleanup(func() {
			if out, err := exec.Command(n.ip, "netns", "delete", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
			}
		})
	}
	n.must(t, n.ip, "link", "add", n.serverIf, "netns", n.server, "type", "veth",
		"peer", "name", n.browserIf, "netns", n.browsers)
	for _, side := range []struct{ ns, ifname, addr string }{
		{n.server, n.serverIf, n.serverIP}, {n.browsers, n.browserIf, n.browsersIP},
	} {
		n.must(t, n.ip, "-n", side.ns, "addr", "add", side.addr+"/24", "dev", side.ifname)
		n.must(t, n.ip, "-n", side.ns, "link", "set", side.ifname, "up")
		n.must(t, n.ip, "-n", side.ns, "link", "set", "lo", "up")
	}
	return n
}

// findTool finds a command, also in the sbin folders a user's PATH may lack.
func findTool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	skipOrFail(t, fmt.Sprintf("%s not found (apt-get install %s): skipping the packet-loss test", name, pkg))
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (n *netnsPair) must(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// exec is the prefix that runs a command in namespace ns.
func (n *netnsPair) exec(ns string) []string { return []string{n.ip, "netns", "exec", ns} }

// chromiumIn writes a script that runs chromium in the browsers' namespace, for
// chromedp.ExecPath. chromedp talks to the browser over a pipe (file descriptors 3 and 4,
// --remote-debugging-pipe), which ip netns exec and the exec of the shell hand down unchanged:
// no DevTools port has to be reached across namespaces.
func (n *netnsPair) chromiumIn(t *testing.T, chromium string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\nexec %s %q \"$@\"\n", strings.Join(quoteAll(n.exec(n.browsers)), " "), chromium)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return q
}

// setLoss drops percent of the UDP packets that reach each namespace over the veth, at random:
// on the server's side what the browsers send it, on the browsers' side what it sends them.
// (This kernel has no netem; nftables' numgen makes the same independent random loss.)
//
// The packets are dropped where they arrive, not where they leave: a packet dropped on its
// way out fails the sender's sendto() with EPERM, which a real network never does, and
// Chromium sends a packet again at once when sendto() fails ("transient error"), so that a
// 5% drop on output is a 0.25% loss from the browsers.
func (n *netnsPair) setLoss(t *testing.T, percent int) {
	t.Helper()
	for _, side := range []struct{ ns, ifname string }{{n.server, n.serverIf}, {n.browsers, n.browserIf}} {
		rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname %q meta l4proto udp numgen random mod 100 < %d counter drop
	}
}
`, lossTable, side.ifname, percent)
		cmd := exec.Command(n.ip, append(n.exec(side.ns)[1:], n.nft, "-f", "-")...)
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s: %v: %s", side.ns, err, out)
		}
	}
}

var droppedCounter = regexp.MustCompile(`counter packets (\d+)`)

// dropped is how many packets the loss rules dropped, from the server and from the browsers.
func (n *netnsPair) dropped(t *testing.T) (fromServer, fromBrowsers int64) {
	t.Helper()
	count := func(ns string) int64 {
		argv := append(n.exec(ns), n.nft, "list", "chain", "inet", lossTable, "in")
		m := droppedCounter.FindStringSubmatch(n.must(t, argv...))
		if m == nil {
			t.Fatalf("no counter in the loss rules of %s", ns)
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return v
	}
	return count(n.browsers), count(n.server)
}
