package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// running is a server started by startInProcess: done is closed when run has returned err.
type running struct {
	done chan struct{}
	err  error
}

// startInProcess runs the server as main would, on loopback ports, until the test ends.
func startInProcess(t *testing.T, args ...string) (*server, context.CancelFunc, *running) {
	t.Helper()
	args = append([]string{"-http", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-loopback-candidates", "-log-level", "warn", "-drain-grace", "5s"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server, 1)
	r := &running{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx, args, env{stdout: io.Discard, stderr: testLog{t}, ready: func(s *server) { ready <- s }})
	}()
	select {
	case s := <-ready:
		t.Cleanup(func() {
			cancel()
			<-r.done
		})
		return s, cancel, r
	case <-r.done:
		t.Fatalf("server did not start: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start within 10 s")
	}
	return nil, nil, nil
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func wsURL(s *server) string {
	return strings.Replace(s.URL(), "http", "ws", 1) + "/ws"
}

// publishVP8 joins room as name and sends one-packet VP8 frames at 30 fps until the test ends.
func publishVP8(t *testing.T, url, room, name string, opts *websocket.DialOptions) *client.Client {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.Config{URL: url, Room: room, Name: name, Publish: []webrtc.TrackLocal{track}, DialOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p := make([]byte, 600)
			p[0] = 0x10 // VP8 descriptor, start of a partition
			if n%30 != 0 {
				p[1] = 0x01 // an inter frame; every 30th is a keyframe
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: uint32(n) * 3000, Marker: true}, Payload: p})
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait(); c.Close() })
	return c
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue reads one sample from the Prometheus text format.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	_, body := get(t, http.DefaultClient, s.URL()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

func TestMetricsMoveWhenMediaFlows(t *testing.T) {
	s, _, _ := startInProcess(t)
	if v := metricValue(t, s, "sfu_packets_in_total"); v != 0 {
		t.Fatalf("packets in before any call = %v", v)
	}
	publishVP8(t, wsURL(s), "m", "alice", nil)
	sub, err := client.Join(context.Background(), client.Config{URL: wsURL(s), Room: "m", Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, s, "sfu_packets_out_total") < 30 {
		if time.Now().After(deadline) {
			t.Fatal("sfu_packets_out_total did not reach 30 with a call going on")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, least := range map[string]float64{
		"sfu_rooms": 1, "sfu_participants": 2, "sfu_published_tracks": 1, "sfu_subscribed_tracks": 1,
		"sfu_packets_in_total": 30, "sfu_bytes_in_total": 30 * 600, "sfu_bytes_out_total": 30 * 600,
		"sfu_plis_sent_total": 1, "sfu_join_latency_seconds_count": 2,
	} {
		if v := metricValue(t, s, name); v < least {
			t.Errorf("%s = %v, want at least %v", name, v, least)
		}
	}
}

func TestICECandidatesCarryPublicIPAndTheOneUDPPort(t *testing.T) {
	s, _, _ := startInProcess(t, "-public-ip", "203.0.113.9")
	_, udpPort, _ := net.SplitHostPort(s.media.UDPAddr().String())
	cands := serverCandidates(t, s)
	if len(cands) == 0 {
		t.Fatal("the server trickled no candidate")
	}
	for _, cand := range cands {
		if cand.Address() != "203.0.113.9" || strconv.Itoa(cand.Port()) != udpPort || cand.NetworkType().IsTCP() {
			t.Errorf("candidate %q: want 203.0.113.9 on UDP port %s", cand.Marshal(), udpPort)
		}
	}
}

// serverCandidates joins a client and returns the ICE candidates the server trickles to it in
// the first moments.
func serverCandidates(t *testing.T, s *server) []ice.Candidate {
	t.Helper()
	var mu sync.Mutex
	var cands []ice.Candidate
	c, err := client.Join(context.Background(), client.Config{URL: wsURL(s), Room: "ice", Name: "alice",
		OnCandidate: func(ci webrtc.ICECandidateInit) {
			cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(ci.Candidate, "candidate:"))
			if err != nil {
				t.Errorf("candidate %q: %v", ci.Candidate, err)
				return
			}
			mu.Lock()
			cands = append(cands, cand)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(cands) }
	for deadline := time.Now().Add(5 * time.Second); count() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // any further candidates
	mu.Lock()
	defer mu.Unlock()
	return append([]ice.Candidate(nil), cands...)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths and a pool
// that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sfu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSServesClientAndWebSocket(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s, _, _ := startInProcess(t, "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL = %s", s.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, body := get(t, hc, s.URL()+"/")
	if code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("GET / over TLS: %d %.80q", code, body)
	}
	opts := &websocket.DialOptions{HTTPClient: hc}
	publishVP8(t, wsURL(s), "tls", "alice", opts)
	c, err := client.Join(context.Background(), client.Config{URL: wsURL(s), Room: "tls", Name: "bob", DialOptions: opts})
	if err != nil {
		t.Fatalf("join over wss: %v", err)
	}
	c.Close()
	// The healthcheck subcommand speaks TLS to the same port.
	var out bytes.Buffer
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	if err := run(context.Background(), []string{"healthcheck", "-http", "127.0.0.1:" + port, "-tls-cert", certFile, "-tls-key", keyFile},
		env{stdout: &out, stderr: io.Discard}); err != nil {
		t.Fatalf("healthcheck over TLS: %v", err)
	}
}

// TestDrainOnShutdown: the signal (here the context) stops joins and flips /readyz, the clients
// are told, the call goes on until they leave, and then everything is closed with nothing leaked.
func TestDrainOnShutdown(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // registered first, so it runs after the other cleanups
	s, cancel, done := startInProcess(t, "-drain-grace", "20s")
	if code, _ := get(t, http.DefaultClient, s.URL()+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before shutdown = %d", code)
	}
	alice := publishVP8(t, wsURL(s), "d", "alice", nil)
	bob, err := client.Join(context.Background(), client.Config{URL: wsURL(s), Room: "d", Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // as SIGTERM does
	select {
	case e := <-waitType(bob.Events, signal.TypeDraining):
		if e.GraceSeconds != 20 {
			t.Errorf("draining grace = %d s, want 20", e.GraceSeconds)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("clients were not told the server is draining")
	}
	if code, _ := get(t, http.DefaultClient, s.URL()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d, want 503", code)
	}
	if code, _ := get(t, http.DefaultClient, s.URL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while draining = %d, want 200", code)
	}
	if _, err := client.Join(context.Background(), client.Config{URL: wsURL(s), Room: "d", Name: "late"}); err == nil ||
		!strings.Contains(err.Error(), signal.CodeShuttingDown) {
		t.Fatalf("a join while draining: %v; want refused with %s", err, signal.CodeShuttingDown)
	}
	select {
	case <-done.done:
		t.Fatalf("the server stopped while a call was going on: %v", done.err)
	case <-time.After(500 * time.Millisecond):
	}
	start := time.Now()
	alice.Leave()
	bob.Leave()
	select {
	case <-done.done:
		if done.err != nil {
			t.Fatalf("run returned %v after draining; want nil (exit 0)", done.err)
		}
		t.Logf("closed %v after the last member left", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close after the last call ended")
	}
}

func waitType(ch <-chan signal.Message, typ string) <-chan signal.Message {
	out := make(chan signal.Message, 1)
	go func() {
		for m := range ch {
			if m.Type == typ {
				out <- m
				return
			}
		}
	}()
	return out
}

// TestPprofOnlyOnItsOwnAddress checks that -pprof serves the profiler on the address given, and
// that the public HTTP address never does.
func TestPprofOnlyOnItsOwnAddress(t *testing.T) {
	s, _, _ := startInProcess(t)
	if code, _ := get(t, http.DefaultClient, s.URL()+"/debug/pprof/"); code == http.StatusOK {
		t.Fatalf("the public address serves /debug/pprof/ without -pprof")
	}
	s, _, _ = startInProcess(t, "-pprof", "127.0.0.1:0")
	if code, body := get(t, http.DefaultClient, "http://"+s.pprofAt.String()+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("-pprof address: /debug/pprof/ = %d, want 200 with the profile list", code)
	}
	if code, _ := get(t, http.DefaultClient, s.URL()+"/debug/pprof/"); code == http.StatusOK {
		t.Fatalf("the public address serves /debug/pprof/ with -pprof set elsewhere")
	}
}
