package signal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
	"github.com/sfu-project/sfu/signal/token"
)

var testKeys = token.Keys{"key1": "0123456789abcdef0123456789abcdef"}

func mint(t *testing.T, g token.Grant, ttl time.Duration) string {
	t.Helper()
	tok, err := testKeys.Mint("key1", g, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func all(room, identity string) token.Grant {
	return token.Grant{Room: room, Identity: identity, CanPublish: true, CanSubscribe: true, CanPublishData: true}
}

func TestTokensAreRequiredAndChecked(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	// A call in the room goes on, whatever the refused clients do.
	alice := joinWithToken(t, ts, "alice", mint(t, all("secret", "alice"), time.Hour), true)
	bob := joinWithToken(t, ts, "bob", mint(t, all("secret", "bob"), time.Hour), false)
	video := videoFrom(t, bob, alice)

	forged := mint(t, all("secret", "mallory"), time.Hour)
	forged = forged[:strings.LastIndexByte(forged, '.')+1] + "c2lnbmF0dXJl"
	otherKey, err := token.Keys{"key1": strings.Repeat("z", 32)}.Mint("key1", all("secret", "mallory"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, join, code string
	}{
		{"no token", `{"type":"join","room":"secret","name":"mallory"}`, signal.CodeTokenRequired},
		{"expired", `{"type":"join","room":"secret","token":"` + mint(t, all("secret", "mallory"), -time.Minute) + `"}`, signal.CodeTokenExpired},
		{"forged", `{"type":"join","room":"secret","token":"` + forged + `"}`, signal.CodeTokenInvalid},
		{"another secret", `{"type":"join","room":"secret","token":"` + otherKey + `"}`, signal.CodeTokenInvalid},
		{"garbage", `{"type":"join","room":"secret","token":"a.b.c"}`, signal.CodeTokenInvalid},
		{"wrong room", `{"type":"join","room":"secret","token":"` + mint(t, all("lobby", "mallory"), time.Hour) + `"}`, signal.CodeWrongRoom},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, ts)
			r.send(c.join)
			r.expectError(c.code)
			r.expectClose(websocket.StatusPolicyViolation)
		})
	}
	before := video.packets.Load()
	waitFor(t, 3*time.Second, "bob's video to keep flowing", func() bool { return video.packets.Load() > before+30 })
	if n := len(ts.sfu.Room("secret").Participants()); n != 2 {
		t.Fatalf("room secret has %d members, want alice and bob", n)
	}
	if ts.sfu.Room("lobby") != nil {
		t.Fatal("a refused join made room lobby")
	}
}

func TestTokenDecidesRoomIdentityAndName(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	// In the URL, as the web client sends it; the join names no room.
	tok := mint(t, token.Grant{Room: "r1", Identity: "u-42", Name: "Carol", CanSubscribe: true}, time.Hour)
	c, err := client.Join(context.Background(), client.Config{URL: ts.url + "/?token=" + tok, Name: "someone else"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	j := c.Joined
	if j.Room != "r1" || j.Identity != "u-42" || j.Name != "Carol" || j.Permissions == nil ||
		*j.Permissions != (signal.Permissions{Subscribe: true}) {
		t.Fatalf("joined %+v permissions %+v", j, j.Permissions)
	}
}

// A subscribe-only participant's offer to publish is refused; it receives the others. A
// publish-only one receives nothing.
func TestPermissionsAreEnforced(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	alice := joinWithToken(t, ts, "alice", mint(t, all("p", "alice"), time.Hour), true)

	viewer := &member{name: "viewer", rec: newRecorder()}
	viewer.video, viewer.audio = newSynthTrack(t, "viewer/v", true), newSynthTrack(t, "viewer/a", false)
	c, err := client.Join(context.Background(), client.Config{URL: ts.url + "/", Name: "viewer", OnTrack: viewer.rec.onTrack,
		Token:   mint(t, token.Grant{Room: "p", Identity: "viewer", CanSubscribe: true}, time.Hour),
		Publish: []webrtc.TrackLocal{viewer.video, viewer.audio}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	viewer.Client = c
	if e := waitEvent(t, viewer, signal.TypeError, 5*time.Second); e.Code != signal.CodeNotAllowed {
		t.Fatalf("a subscribe-only offer to publish got %q (%s), want %q", e.Code, e.Message, signal.CodeNotAllowed)
	}
	// Its session goes on: a receive-only offer now works, and it gets alice's media.
	for _, s := range c.Senders() {
		if err := c.PC.RemoveTrack(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PC.CreateDataChannel("sfu", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Offer(); err != nil {
		t.Fatal(err)
	}
	videoFrom(t, viewer, alice)

	speaker := joinWithToken(t, ts, "speaker", mint(t, token.Grant{Room: "p", Identity: "speaker", CanPublish: true}, time.Hour), true)
	videoFrom(t, alice, speaker) // others receive what it publishes...
	time.Sleep(time.Second)
	if n := len(speaker.rec.byStream(alice.ID)); n != 0 {
		t.Fatalf("a publish-only participant received %d of alice's tracks", n)
	}
}

// One identity in a room at a time: a second join replaces the first.
func TestSameIdentityReplaces(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	bob := joinWithToken(t, ts, "bob", mint(t, all("id", "bob"), time.Hour), false)
	first := joinWithToken(t, ts, "alice", mint(t, all("id", "alice"), time.Hour), true)
	videoFrom(t, bob, first)
	second := joinWithToken(t, ts, "alice again", mint(t, all("id", "alice"), time.Hour), true)
	if e := waitEvent(t, first, signal.TypeError, 5*time.Second); e.Code != signal.CodeReplaced {
		t.Fatalf("the first alice got %q, want %q", e.Code, signal.CodeReplaced)
	}
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first alice's socket stayed open")
	}
	if code := first.CloseStatus(); code != signal.StatusReplaced {
		t.Fatalf("the first alice was closed with %v, want %v", code, signal.StatusReplaced)
	}
	videoFrom(t, bob, second)
	waitFor(t, 5*time.Second, "one alice in the room", func() bool {
		n := 0
		for _, p := range ts.sfu.Room("id").Participants() {
			if p.Identity == "alice" {
				n++
			}
		}
		return n == 1
	})
}

// joinWithToken is join with an access token.
func joinWithToken(t *testing.T, ts *testServer, name, tok string, publish bool) *member {
	t.Helper()
	return joinWith(t, ts, "", name, publish, func(c *client.Config) { c.Token = tok })
}
