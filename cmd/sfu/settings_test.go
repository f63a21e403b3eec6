package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal"
)

func TestBadSettingExitsWithStatus2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	out, err := exec.Command(buildAsDockerfile(t), "-public-ip", "my.host").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("sfu -public-ip my.host: %v; want exit status 2", err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "not an IP") {
		t.Fatalf("want one line saying what is wrong, got:\n%s", out)
	}
}

func TestICEServersReachTheClient(t *testing.T) {
	s, _, _ := startInProcess(t, "-ice-servers", `[{"urls":["turn:turn.example.org:3478?transport=udp"],"username":"u","credential":"p"}]`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	b, _ := json.Marshal(signal.Message{Type: signal.TypeJoin, Room: "ice-servers", Name: "alice"})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, b, err = c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m signal.Message
	if err := json.Unmarshal(b, &m); err != nil || m.Type != signal.TypeJoined {
		t.Fatalf("first message %s (%v); want joined", b, err)
	}
	want := webrtc.ICEServer{URLs: []string{"turn:turn.example.org:3478?transport=udp"}, Username: "u", Credential: "p"}
	if len(m.ICEServers) != 1 || m.ICEServers[0].URLs[0] != want.URLs[0] || m.ICEServers[0].Username != "u" || m.ICEServers[0].Credential != "p" {
		t.Fatalf("joined.iceServers = %+v, want [%+v]", m.ICEServers, want)
	}
}

func TestICETCPOffersATCPCandidate(t *testing.T) {
	s, _, _ := startInProcess(t, "-ice-tcp", "127.0.0.1:0")
	for _, cand := range serverCandidates(t, s) {
		if cand.NetworkType().IsTCP() {
			return
		}
	}
	t.Fatal("with -ice-tcp the server offered no TCP candidate")
}
