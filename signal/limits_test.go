package signal_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// Each limit is answered with its code; the calls under it go on.
func TestRoomAndServerLimits(t *testing.T) {
	ts := startServer(t, sfu.WithLimits(2, 2, 0))
	alice := join(t, ts, "full", "alice", true)
	bob := join(t, ts, "full", "bob", false)
	video := videoFrom(t, bob, alice)

	c := dialRaw(t, ts)
	c.send(`{"type":"join","room":"full","name":"carol"}`)
	c.expectError(signal.CodeRoomFull)
	// The socket stays open: another room takes her...
	c.send(`{"type":"join","room":"second","name":"carol"}`)
	c.expect(signal.TypeJoined)
	// ... but a third room is one too many for this server.
	d := dialRaw(t, ts)
	d.send(`{"type":"join","room":"third","name":"dave"}`)
	d.expectError(signal.CodeTooManyRooms)
	if ts.sfu.Room("third") != nil {
		t.Fatal("a refused join left room third behind")
	}
	before := video.packets.Load()
	waitFor(t, 3*time.Second, "bob's video to keep flowing", func() bool { return video.packets.Load() > before+30 })
}

func TestTrackLimit(t *testing.T) {
	ts := startServer(t, sfu.WithLimits(0, 0, 1))
	m := &member{name: "alice", rec: newRecorder()}
	m.video, m.audio = newSynthTrack(t, "alice/v", true), newSynthTrack(t, "alice/a", false)
	c, err := client.Join(context.Background(), client.Config{URL: ts.url + "/", Room: "tracks", Name: "alice",
		Publish: []webrtc.TrackLocal{m.video, m.audio}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m.Client = c
	if e := waitEvent(t, m, signal.TypeError, 5*time.Second); e.Code != signal.CodeTooManyTracks {
		t.Fatalf("an offer of 2 tracks with a limit of 1 got %q (%s)", e.Code, e.Message)
	}
	select {
	case <-c.Done():
		t.Fatal("the session ended")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestConnectionsPerIPLimit(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithMaxConnectionsPerIP(2)})
	a, b := dialRaw(t, ts), dialRaw(t, ts)
	a.send(`{"type":"join","room":"ip","name":"a"}`)
	a.expect(signal.TypeJoined)
	c := dialRaw(t, ts)
	c.expectError(signal.CodeTooManyConns)
	c.expectClose(websocket.StatusPolicyViolation)
	// One closes; a new one may come.
	_ = b.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, 3*time.Second, "a free connection slot", func() bool { return ts.sig.Sessions() == 1 })
	d := dialRaw(t, ts)
	d.send(`{"type":"join","room":"ip","name":"d"}`)
	d.expect(signal.TypeJoined)
}

// A page of another origin may not open the WebSocket unless allowed.
func TestOriginIsChecked(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithOriginPatterns("app.example.com")})
	dial := func(origin string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, ts.url+"/", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			_ = c.CloseNow()
		}
		return err
	}
	if err := dial("https://evil.example.net"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a foreign origin: %v, want a 403 refusal", err)
	}
	if err := dial("https://app.example.com"); err != nil {
		t.Fatalf("an allowed origin: %v", err)
	}
	if err := dial(strings.Replace(ts.url, "ws", "http", 1)); err != nil {
		t.Fatalf("the server's own origin: %v", err)
	}
}

// A participant whose PeerConnection never connects (here: it never even offers) is removed
// after the connect timeout, with its room.
func TestConnectTimeout(t *testing.T) {
	ts := startServer(t, sfu.WithConnectTimeout(500*time.Millisecond))
	c := dialRaw(t, ts)
	c.send(`{"type":"join","room":"silent","name":"ghost"}`)
	c.expect(signal.TypeJoined)
	start := time.Now()
	c.expectError(signal.CodeConnectTimeout)
	c.expectClose(signal.StatusConnectionLost)
	t.Logf("removed %v after the join", time.Since(start).Round(time.Millisecond))
	waitFor(t, 3*time.Second, "room silent to be gone", func() bool { return ts.sfu.Room("silent") == nil })
	// A participant that connects is not touched.
	alice := join(t, ts, "alive", "alice", true)
	time.Sleep(time.Second)
	select {
	case <-alice.Done():
		t.Fatal("a connected participant was removed by the connect timeout")
	default:
	}
}
