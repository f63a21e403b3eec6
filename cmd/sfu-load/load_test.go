package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs the media core and the signaling handler in this process, on loopback, and
// returns the signaling URL.
func startServer(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sfu.New(sfu.WithUDPAddr("127.0.0.1:0"), sfu.WithLoopbackCandidates(true), sfu.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	h := signal.NewHandler(s, signal.WithLogger(log), signal.WithMaxConnectionsPerIP(0))
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		_ = s.Close()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

func TestLoadRun(t *testing.T) {
	url := startServer(t)
	cfg := config{
		URL: url, Rooms: 1, Publishers: 2, Subscribers: 2,
		Duration: 3 * time.Second, Ramp: 500 * time.Millisecond,
		// Two videos fit well within the server's first downlink estimate (2.5 Mbit/s) of each
		// subscriber: over it, the server pauses one, and the tester rightly counts that as loss.
		VideoBitrate: 300_000, Audio: true, KeyframeInterval: 2 * time.Second,
		JoinTimeout: 10 * time.Second, MaxLoss: 1, RoomPrefix: "test",
		// The server is in this process: its CPU figures include the tester's; the test only
		// checks that they are read.
		ServerPID: os.Getpid(),
		Progress:  time.Second,
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := run(ctx, cfg, &stdout, &stderr)
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	if err != nil {
		t.Fatal(err)
	}

	if rep.Clients.Joined != 4 || rep.Clients.Failed != 0 || rep.Clients.Dropped != 0 {
		t.Errorf("clients %+v, want 4 joined, none failed or dropped", rep.Clients)
	}
	// Each subscriber receives both publishers' audio and video, each publisher the other's.
	if want := 2*4 + 2*2; rep.Tracks.Expected != want || rep.Tracks.Received != want || rep.Tracks.Missing != 0 {
		t.Errorf("tracks %+v, want %d expected and received", rep.Tracks, want)
	}
	p := rep.Packets
	if p.Expected == 0 || p.Lost != 0 || p.Received != p.Expected {
		t.Errorf("packets %+v, want no loss on loopback", p)
	}
	if rep.Latency.N == 0 || rep.Latency.P50 <= 0 || rep.Latency.P50 > 200 {
		t.Errorf("latency %+v, want a p50 between 0 and 200 ms", rep.Latency)
	}
	if rep.Out.BitsPerSecond <= 0 || rep.In.BitsPerSecond <= 0 || rep.Out.PacketsPerSecond <= rep.In.PacketsPerSecond {
		t.Errorf("in %+v, out %+v: want traffic, and more out than in (each packet goes to 3 clients)", rep.In, rep.Out)
	}
	if rep.JoinConnected.N != 4 || rep.JoinConnected.P50 <= 0 {
		t.Errorf("join to connected %+v, want 4 samples above 0", rep.JoinConnected)
	}
	if rep.JoinFirstMedia.N != 4 || rep.JoinFirstMedia.P50 <= 0 {
		t.Errorf("join to first media %+v, want 4 samples above 0", rep.JoinFirstMedia)
	}
	if s := rep.Server; s == nil || s.Error != "" || s.CPUSeconds <= 0 || s.PeakRSSBytes == 0 {
		t.Errorf("server stats %+v, want CPU time and peak RSS", s)
	}
	if !rep.Pass || exitCode(rep, nil) != 0 {
		t.Errorf("pass %v (%v), exit code %d; want a pass", rep.Pass, rep.Failures, exitCode(rep, nil))
	}
	if !strings.Contains(stdout.String(), "PASS") || !strings.Contains(stderr.String(), "tracks 12/12") {
		t.Errorf("the table or the progress lines lack the result")
	}
	if strings.Contains(stdout.String(), "not on a loopback") {
		t.Errorf("latency note for a loopback URL")
	}
}

// TestJSON: --json prints the report as JSON on stdout, with the fields machines read.
func TestJSON(t *testing.T) {
	r := &Report{URL: "ws://x/ws"}
	r.Packets.Expected, r.Packets.Received = 10, 10
	r.judge(1)
	var out bytes.Buffer
	if err := r.writeJSON(&out); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"join_to_connected_ms", "join_to_first_media_ms", "tracks", "packets", "latency_ms", "in", "out", "pass"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, out.String())
		}
	}
	if _, ok := m["server"]; ok {
		t.Errorf("server stats without --server-pid")
	}
}

func TestExitCode(t *testing.T) {
	report := func(lossPercent float64, expected, missing int) *Report {
		r := &Report{}
		r.Packets.LossPercent = lossPercent
		r.Tracks.Expected, r.Tracks.Missing, r.Tracks.Received = expected, missing, expected-missing
		return r
	}
	for _, c := range []struct {
		name              string
		r                 *Report
		maxLoss           float64
		want              int
		wantFailureSubstr string
	}{
		{"clean", report(0, 40, 0), 1, 0, ""},
		{"loss at the limit", report(1, 40, 0), 1, 0, ""},
		{"loss over", report(1.5, 40, 0), 1, 1, "loss 1.500%"},
		{"loss allowed", report(1.5, 40, 0), 2, 0, ""},
		{"one track of 40 missing", report(0, 40, 1), 1, 1, "1 of 40 tracks missing"},
		{"one track of 200 missing", report(0, 200, 1), 1, 0, ""},
		{"zero tolerance", report(0.001, 40, 0), 0, 1, "loss"},
		{"nothing expected", report(0, 0, 0), 1, 0, ""},
	} {
		c.r.judge(c.maxLoss)
		if got := exitCode(c.r, nil); got != c.want {
			t.Errorf("%s: exit %d, want %d (failures %v)", c.name, got, c.want, c.r.Failures)
		}
		if c.wantFailureSubstr != "" && !strings.Contains(strings.Join(c.r.Failures, ";"), c.wantFailureSubstr) {
			t.Errorf("%s: failures %v, want one with %q", c.name, c.r.Failures, c.wantFailureSubstr)
		}
	}
	if exitCode(nil, io.EOF) != 1 || exitCode(&Report{Pass: true}, io.EOF) != 1 {
		t.Errorf("a run that failed to run must exit 1")
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--rooms", "0"},
		{"--publishers", "-1"},
		{"--publishers", "0", "--subscribers", "0"},
		{"--duration", "0s"},
		{"--ramp", "-1s"},
		{"--video-bitrate", "100"},
		{"--video-bitrate", "0", "--audio=false"},
		{"--max-loss", "-1"},
		{"--url", "http://127.0.0.1:8080/ws"},
		{"--api-keys", "k:short"},
		{"--no-such-flag"},
		{"--rooms", "many"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := realMain(context.Background(), []string{"-help"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "max-connections-per-ip") {
		t.Errorf("-help: exit %d, usage %q", code, stderr.String())
	}
}

// TestUnreachableServerExit1: a run whose clients cannot join fails with status 1: every track
// is missing.
func TestUnreachableServerExit1(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"--url", "ws://127.0.0.1:1/ws", "--duration", "100ms", "--ramp", "0s", "--subscribers", "1", "--join-timeout", "2s", "--progress", "0"}
	if code := realMain(context.Background(), args, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "0 joined of 2") || !strings.Contains(stdout.String(), "FAIL") {
		t.Errorf("table:\n%s", stdout.String())
	}
}
