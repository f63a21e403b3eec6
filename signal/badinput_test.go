package signal_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sfu-project/sfu/signal"
)

// rawConn is a WebSocket that sends whatever a test writes, for hostile input.
type rawConn struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialRaw(t *testing.T, ts *testServer) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, ts.url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &rawConn{t: t, conn: c}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// expect reads messages until one of type typ arrives (skipping candidates and the like).
func (r *rawConn) expect(typ string) signal.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, b, err := r.conn.Read(ctx)
		if err != nil {
			r.t.Fatalf("waiting for %q: %v", typ, err)
		}
		var m signal.Message
		if err := json.Unmarshal(b, &m); err != nil {
			r.t.Fatalf("server sent bad JSON %q: %v", b, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

func (r *rawConn) expectError(code string) {
	r.t.Helper()
	if m := r.expect(signal.TypeError); m.Code != code {
		r.t.Fatalf("error code %q (%s), want %q", m.Code, m.Message, code)
	}
}

// expectClose reads until the server closes the socket, and checks the close code.
func (r *rawConn) expectClose(code websocket.StatusCode) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := r.conn.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != code {
				r.t.Fatalf("closed with %v (%v), want %v", got, err, code)
			}
			return
		}
	}
}

func TestBadInputIsAnsweredAndHarmsNoOne(t *testing.T) {
	ts := startServer(t)
	// A healthy call in the same room, and one in another room, must not notice anything.
	alice := join(t, ts, "r", "alice", true)
	bob := join(t, ts, "r", "bob", true)
	xavier := join(t, ts, "other", "xavier", true)
	yvonne := join(t, ts, "other", "yvonne", false)
	healthy := []*received{videoFrom(t, bob, alice), videoFrom(t, alice, bob), videoFrom(t, yvonne, xavier)}
	counts := make([]int64, len(healthy))
	for i, r := range healthy {
		counts[i] = r.packets.Load()
	}

	t.Run("before join", func(t *testing.T) {
		c := dialRaw(t, ts)
		c.send(`{not json`)
		c.expectError(signal.CodeBadJSON)
		c.send(`["type","join"]`)
		c.expectError(signal.CodeBadJSON)
		c.send(`{"type":42}`)
		c.expectError(signal.CodeBadJSON)
		c.send(`{"type":"fly"}`)
		c.expectError(signal.CodeUnknownType)
		c.send(`{"type":"offer","sdp":"v=0"}`)
		c.expectError(signal.CodeNotJoined)
		c.send(`{"type":"join","room":""}`)
		c.expectError(signal.CodeBadRoom)
		c.send(`{"type":"join","room":"r","name":"` + strings.Repeat("n", 200) + `"}`)
		c.expectError(signal.CodeBadName)
		// After all that, the session still works.
		c.send(`{"type":"join","room":"r","name":"mallory"}`)
		if m := c.expect(signal.TypeJoined); m.ID == "" || len(m.Participants) != 2 {
			t.Fatalf("joined = %+v; want an id and the two members alice and bob", m)
		}
	})

	t.Run("after join", func(t *testing.T) {
		c := dialRaw(t, ts)
		c.send(`{"type":"join","room":"r","name":"mallory"}`)
		c.expect(signal.TypeJoined)
		c.send(`{"type":"offer","sdp":"this is not SDP"}`)
		c.expectError(signal.CodeBadSDP)
		c.send(`{"type":"answer","sdp":"v=0"}`)
		c.expectError(signal.CodeBadSDP)
		c.send(`{"type":"candidate"}`)
		c.expectError(signal.CodeBadCandidate)
		c.send(`{"type":"candidate","candidate":{"candidate":"candidate:garbage"}}`)
		c.expectError(signal.CodeBadCandidate)
		c.send(`{"type":"trackInfo","source":"camera"}`)
		c.expectError(signal.CodeBadTrack)
		c.send(`{"type":"trackInfo","trackId":"t","source":"hologram"}`)
		c.expectError(signal.CodeBadTrack)
		c.send(`{"type":"trackInfo","trackId":"t","layers":[{"rid":"a"},{"rid":"b"},{"rid":"c"},{"rid":"d"}]}`)
		c.expectError(signal.CodeBadTrack)
		c.send(`{"type":"trackSettings","publisher":"` + alice.ID + `","trackId":"` + alice.video.ID() + `","width":-5}`)
		c.expectError(signal.CodeBadTrack)
		// A track of another room, or one that does not exist, cannot be touched.
		c.send(`{"type":"trackSettings","publisher":"` + xavier.ID + `","trackId":"` + xavier.video.ID() + `","visible":false}`)
		c.expectError(signal.CodeBadTrack)
		c.send(`{"type":"trackSettings","publisher":"` + alice.ID + `","trackId":"nope","visible":false}`)
		c.expectError(signal.CodeBadTrack)
		c.send(`{"type":"join","room":"r","name":"again"}`)
		c.expectError(signal.CodeAlreadyJoined)
		c.expectClose(websocket.StatusPolicyViolation)
	})

	t.Run("oversized message", func(t *testing.T) {
		c := dialRaw(t, ts)
		c.send(`{"type":"join","room":"r","name":"mallory"}`)
		c.expect(signal.TypeJoined)
		c.send(`{"type":"offer","sdp":"` + strings.Repeat("a", 70<<10) + `"}`)
		c.expectError(signal.CodeTooBig)
		c.expectClose(websocket.StatusMessageTooBig)
	})

	// The healthy calls kept going, and the room holds only its two real members again.
	for i, r := range healthy {
		waitFor(t, 3*time.Second, describe(r)+" to keep flowing", func() bool { return r.packets.Load() > counts[i]+30 })
	}
	waitFor(t, 5*time.Second, "the bad clients to leave room r", func() bool {
		return len(ts.sfu.Room("r").Participants()) == 2
	})
	for _, m := range []*member{alice, bob, xavier, yvonne} {
		select {
		case <-m.Done():
			t.Fatalf("%s's session ended", m.name)
		default:
		}
	}
}

func TestJoinTimeout(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithJoinTimeout(300 * time.Millisecond)})
	c := dialRaw(t, ts)
	start := time.Now()
	c.expectError(signal.CodeJoinTimeout)
	c.expectClose(websocket.StatusPolicyViolation)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v; the join timeout is 300 ms", d)
	}
	// A client that joins in time is not touched by the timer.
	alice := join(t, ts, "t", "alice", true)
	time.Sleep(600 * time.Millisecond)
	select {
	case <-alice.Done():
		t.Fatal("a joined client was closed by the join timeout")
	default:
	}
}

func TestMessageFloodIsLimited(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithMessageRate(20, 10)})
	alice := join(t, ts, "flood", "alice", true)
	bob := join(t, ts, "flood", "bob", false)
	video := videoFrom(t, bob, alice)
	c := dialRaw(t, ts)
	c.send(`{"type":"join","room":"flood","name":"mallory"}`)
	c.expect(signal.TypeJoined)
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"mute","audioMuted":true}`))
		cancel()
		if err != nil {
			break // closed by the server
		}
	}
	c.expectError(signal.CodeRateLimited)
	c.expectClose(websocket.StatusPolicyViolation)
	before := video.packets.Load()
	waitFor(t, 3*time.Second, "bob's video to keep flowing", func() bool { return video.packets.Load() > before+30 })
	waitFor(t, 5*time.Second, "mallory to be gone", func() bool { return len(ts.sfu.Room("flood").Participants()) == 2 })
}
