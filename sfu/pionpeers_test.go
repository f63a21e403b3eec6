//go:build linux || darwin

package sfu

// The Pion peers of the benchmarks: PeerConnections in this process (the server's side), each
// connected to a receiver in a child process (TestBenchReceiverProcess), so that what a
// benchmark measures is the sending side only.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// newStockPionAPI is a webrtc.API as a stock Pion application makes it, restricted to loopback.
func newStockPionAPI(tb testing.TB) *webrtc.API {
	return newLoopbackPionAPI(tb, webrtc.RegisterDefaultInterceptors)
}

// newLoopbackPionAPI is a webrtc.API with Pion's default codecs and the interceptors that
// configure registers, restricted to loopback.
func newLoopbackPionAPI(tb testing.TB, configure func(*webrtc.MediaEngine, *interceptor.Registry) error) *webrtc.API {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := configure(m, reg); err != nil {
		tb.Fatal(err)
	}
	s := webrtc.SettingEngine{}
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
}

// pionPeers is a set of connected PeerConnections: in this process the sending sides, each the
// SFU's connection to one subscriber; in a child process (TestBenchReceiverProcess) the
// receiving sides, the subscribers, which read and discard.
type pionPeers struct {
	tb       testing.TB
	pcs      []*webrtc.PeerConnection
	wg       sync.WaitGroup // the RTCP readers started here, plus one until cleanup
	received atomic.Int32   // receiving sides that got media

	child   *exec.Cmd
	offers  io.WriteCloser
	mu      sync.Mutex
	answers map[int]chan string
}

const benchReceiverEnv = "SFU_BENCH_RECEIVER"

func newPionPeers(tb testing.TB) *pionPeers {
	tb.Helper()
	p := &pionPeers{tb: tb, answers: map[int]chan string{}}
	p.wg.Add(1)
	p.child = exec.Command(os.Args[0], "-test.run=^TestBenchReceiverProcess$", "-test.count=1", "-test.timeout=0")
	p.child.Env = append(os.Environ(), benchReceiverEnv+"=1")
	p.child.Stderr = os.Stderr
	var err error
	if p.offers, err = p.child.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := p.child.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.child.Start(); err != nil {
		tb.Fatal(err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "media":
				p.received.Add(1)
			case len(f) == 3 && f[0] == "answer":
				i, _ := strconv.Atoi(f[1])
				p.mu.Lock()
				ch := p.answers[i]
				p.mu.Unlock()
				if ch != nil {
					ch <- f[2]
				}
			}
		}
	}()
	tb.Cleanup(func() {
		for _, pc := range p.pcs {
			if err := pc.Close(); err != nil {
				tb.Errorf("close: %v", err)
			}
		}
		p.wg.Done()
		p.wg.Wait()
		_ = p.offers.Close() // the child closes its PeerConnections and exits
		exited := make(chan error, 1)
		go func() { exited <- p.child.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				tb.Errorf("receiver process: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("receiver process did not exit within 10 s")
			_ = p.child.Process.Kill()
			<-exited
		}
		<-readerDone
	})
	return p
}

// connect adds track to a new PeerConnection of sendAPI and connects it to a new receiving one
// in the child process. readRTCP reads the sender's RTCP until it fails; nil reads and discards.
func (p *pionPeers) connect(sendAPI *webrtc.API, track webrtc.TrackLocal, readRTCP func(*webrtc.RTPSender)) {
	tb := p.tb
	tb.Helper()
	send, err := sendAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p.pcs = append(p.pcs, send)
	sender, err := send.AddTrack(track)
	if err != nil {
		tb.Fatal(err)
	}
	if readRTCP == nil {
		readRTCP = discardRTCP
	}
	p.wg.Add(1)
	go func() { // without an RTCP reader the sender's interceptors never see NACKs and reports
		defer p.wg.Done()
		readRTCP(sender)
	}()
	connected := make(chan struct{})
	var once sync.Once
	send.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})

	offer, err := send.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(send)
	if err := send.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	idx := len(p.pcs) - 1
	ch := make(chan string, 1)
	p.mu.Lock()
	p.answers[idx] = ch
	p.mu.Unlock()
	if _, err := fmt.Fprintf(p.offers, "offer %d %s\n", idx, encodeSDP(tb, *send.LocalDescription())); err != nil {
		tb.Fatal(err)
	}
	var answer string
	select {
	case answer = <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatal("no answer from the receiver process within 10 s")
	}
	if err := send.SetRemoteDescription(decodeSDP(tb, answer)); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		tb.Fatal("PeerConnection did not connect within 10 s")
	}
}

func discardRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

func encodeSDP(tb testing.TB, sd webrtc.SessionDescription) string {
	j, err := json.Marshal(sd)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(j)
}

func decodeSDP(tb testing.TB, s string) webrtc.SessionDescription {
	var sd webrtc.SessionDescription
	j, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(j, &sd)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return sd
}

// warmUp writes until all n receiving sides got media (SRTP keys are in place on both ends), then
// a hundred packets more.
func (p *pionPeers) warmUp(n int, write func()) {
	p.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for int(p.received.Load()) < n {
		if time.Now().After(deadline) {
			p.tb.Fatalf("%d of %d subscribers received media within 10 s", p.received.Load(), n)
		}
		write()
		time.Sleep(5 * time.Millisecond)
	}
	// Paced: a burst would overflow the receivers' socket buffers, and the NACKs and resends
	// that follow would run on into the timed loop.
	for i := 0; i < 100; i++ {
		write()
		time.Sleep(time.Millisecond)
	}
}

// TestBenchReceiverProcess is not a test: it is the receiving side of the Pion benchmarks, which
// run it as a child process so that its work does not count as the sender's. It reads lines
// "offer <i> <sdp>" on stdin and answers "answer <i> <sdp>" on stdout, then "media <i>" once
// that peer has received a packet. It ends when stdin closes.
func TestBenchReceiverProcess(t *testing.T) {
	if os.Getenv(benchReceiverEnv) != "1" {
		t.Skip("the receiving side of the Pion benchmarks; runs only as their child process")
	}
	api := newStockPionAPI(t)
	var mu sync.Mutex // one line at a time on stdout
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Printf(format+"\n", args...)
		mu.Unlock()
	}
	var pcs []*webrtc.PeerConnection
	var wg sync.WaitGroup
	wg.Add(1) // until the PeerConnections are closed: OnTrack may Add meanwhile
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 3 || f[0] != "offer" {
			t.Fatalf("receiver process: unexpected line %q", in.Text())
		}
		idx := f[1]
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			wg.Add(1)
			defer wg.Done()
			buf := make([]byte, 1500)
			for first := true; ; first = false {
				if _, _, err := remote.Read(buf); err != nil {
					return
				}
				if first {
					say("media %s", idx)
				}
			}
		})
		if err := pc.SetRemoteDescription(decodeSDP(t, f[2])); err != nil {
			t.Fatal(err)
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(answer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		say("answer %s %s", idx, encodeSDP(t, *pc.LocalDescription()))
	}
	for _, pc := range pcs {
		_ = pc.Close()
	}
	wg.Done()
	wg.Wait()
}
