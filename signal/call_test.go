package signal_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// goOnline dials and goes online as name, and returns the connection and the presence answer.
func goOnline(t *testing.T, ts *testServer, name string) (*rawConn, signal.Message) {
	t.Helper()
	r := dialRaw(t, ts)
	r.send(`{"type":"online","name":"` + name + `"}`)
	return r, r.expect(signal.TypePresence)
}

// ring makes caller call to, and returns the call id from "calling".
func ring(t *testing.T, caller *rawConn, to string) string {
	t.Helper()
	caller.send(`{"type":"call","to":"` + to + `"}`)
	m := caller.expect(signal.TypeCalling)
	if m.To != to || m.CallID == "" {
		t.Fatalf("calling = %+v, want to %q and a call id", m, to)
	}
	return m.CallID
}

func expectResult(t *testing.T, r *rawConn, id, result string) signal.Message {
	t.Helper()
	m := r.expect(signal.TypeCallResult)
	if m.CallID != id || m.Result != result {
		t.Fatalf("callResult %q for call %q, want %q for %q", m.Result, m.CallID, result, id)
	}
	return m
}

// expectNothing checks that no message arrives within d.
func expectNothing(t *testing.T, r *rawConn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, b, err := r.conn.Read(ctx); err == nil {
		t.Fatalf("unexpected message %s", b)
	}
}

// joinCall joins room on the connection that went online, publishing synthetic media.
func joinCall(t *testing.T, ts *testServer, r *rawConn, room, name string) *member {
	t.Helper()
	return joinWith(t, ts, room, name, true, func(c *client.Config) { c.Conn = r.conn })
}

func TestPresenceListsWhoIsOnline(t *testing.T) {
	ts := startServer(t)
	alice, first := goOnline(t, ts, "alice")
	if first.Name != "alice" || len(first.People) != 0 {
		t.Fatalf("alice's presence = %+v, want her name and nobody else", first)
	}
	bob, p := goOnline(t, ts, "bob")
	if len(p.People) != 1 || p.People[0].Name != "alice" || p.People[0].InCall {
		t.Fatalf("bob's presence = %+v, want alice, not in a call", p.People)
	}
	if m := alice.expect(signal.TypePersonOnline); m.Person == nil || m.Person.Name != "bob" {
		t.Fatalf("alice told %+v, want bob online", m)
	}

	// Names are unique; the refused client may pick another.
	dup := dialRaw(t, ts)
	dup.send(`{"type":"online","name":"bob"}`)
	dup.expectError(signal.CodeNameTaken)
	dup.send(`{"type":"online","name":""}`)
	dup.expectError(signal.CodeBadName)
	dup.send(`{"type":"online","name":"bob2"}`)
	dup.expect(signal.TypePresence)
	dup.send(`{"type":"online","name":"bob3"}`)
	dup.expectError(signal.CodeAlreadyOnline)
	alice.expect(signal.TypePersonOnline) // bob2

	// Being online is enough: no join timeout.
	time.Sleep(300 * time.Millisecond)

	// Entering and leaving a room shows as inCall, and leaving keeps the client online.
	bm := joinCall(t, ts, bob, "somewhere", "bob")
	if m := alice.expect(signal.TypePersonOnline); m.Person.Name != "bob" || !m.Person.InCall {
		t.Fatalf("alice told %+v, want bob in a call", m.Person)
	}
	if err := bm.Send(context.Background(), signal.Message{Type: signal.TypeLeave}); err != nil {
		t.Fatal(err)
	}
	if m := alice.expect(signal.TypePersonOnline); m.Person.Name != "bob" || m.Person.InCall {
		t.Fatalf("alice told %+v, want bob out of the call", m.Person)
	}

	// Going away is seen by the others.
	bm.Close()
	if m := alice.expect(signal.TypePersonOffline); m.Name != "bob" {
		t.Fatalf("alice told %+v, want bob offline", m)
	}
}

// TestCallAcceptedStartsACall: alice rings bob, bob accepts, both land in a new room and get each
// other's media; then alice, in the call, rings carol into the same room.
func TestCallAcceptedStartsACall(t *testing.T) {
	ts := startServer(t)
	alice, _ := goOnline(t, ts, "alice")
	bob, _ := goOnline(t, ts, "bob")
	carol, _ := goOnline(t, ts, "carol")

	id := ring(t, alice, "bob")
	in := bob.expect(signal.TypeIncomingCall)
	if in.CallID != id || in.Name != "alice" || in.Room != "" {
		t.Fatalf("bob's incomingCall = %+v, want call %q from alice into a new room", in, id)
	}
	bob.send(`{"type":"accept","callId":"` + id + `"}`)
	room := expectResult(t, bob, id, signal.ResultAccepted).Room
	if got := expectResult(t, alice, id, signal.ResultAccepted).Room; got != room || room == "" {
		t.Fatalf("alice was sent to room %q, bob to %q", got, room)
	}
	bob.send(`{"type":"accept","callId":"` + id + `"}`) // twice
	bob.expectError(signal.CodeUnknownCall)

	a := joinCall(t, ts, alice, room, "alice")
	b := joinCall(t, ts, bob, room, "bob")
	videoFrom(t, a, b)
	videoFrom(t, b, a)

	// A third person, rung by someone in the call, joins the same room.
	id2 := ring(t, carol, "alice") // carol rings alice: alice is in a call, so it is call waiting
	if m := waitEvent(t, a, signal.TypeIncomingCall, 5*time.Second); m.CallID != id2 || m.Name != "carol" {
		t.Fatalf("alice's incomingCall = %+v", m)
	}
	if err := a.Send(context.Background(), signal.Message{Type: signal.TypeReject, CallID: id2}); err != nil {
		t.Fatal(err)
	}
	expectResult(t, carol, id2, signal.ResultBusy) // alice is in a call and did not accept

	if err := a.Send(context.Background(), signal.Message{Type: signal.TypeCall, To: "carol"}); err != nil {
		t.Fatal(err)
	}
	id3 := waitEvent(t, a, signal.TypeCalling, 5*time.Second).CallID
	in = carol.expect(signal.TypeIncomingCall)
	if in.CallID != id3 || in.Room != room {
		t.Fatalf("carol's incomingCall = %+v, want call %q into room %q", in, id3, room)
	}
	carol.send(`{"type":"accept","callId":"` + id3 + `"}`)
	if got := expectResult(t, carol, id3, signal.ResultAccepted).Room; got != room {
		t.Fatalf("carol sent to %q, want the call's room %q", got, room)
	}
	c := joinCall(t, ts, carol, room, "carol")
	videoFrom(t, c, a)
	videoFrom(t, c, b)
	videoFrom(t, a, c)
}

func TestCallOutcomes(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithRingTimeout(400 * time.Millisecond)})
	alice, _ := goOnline(t, ts, "alice")
	bob, _ := goOnline(t, ts, "bob")
	carol, _ := goOnline(t, ts, "carol")
	alice.expect(signal.TypePersonOnline)
	alice.expect(signal.TypePersonOnline)
	bob.expect(signal.TypePersonOnline)

	t.Run("rejected", func(t *testing.T) {
		id := ring(t, alice, "bob")
		bob.expect(signal.TypeIncomingCall)
		bob.send(`{"type":"reject","callId":"` + id + `"}`)
		expectResult(t, alice, id, signal.ResultRejected)
	})
	t.Run("cancelled", func(t *testing.T) {
		id := ring(t, alice, "bob")
		bob.expect(signal.TypeIncomingCall)
		alice.send(`{"type":"cancel","callId":"` + id + `"}`)
		expectResult(t, bob, id, signal.ResultCancelled)
		expectResult(t, alice, id, signal.ResultCancelled)
		bob.send(`{"type":"accept","callId":"` + id + `"}`) // too late
		bob.expectError(signal.CodeUnknownCall)
	})
	t.Run("unanswered", func(t *testing.T) {
		id := ring(t, alice, "bob")
		bob.expect(signal.TypeIncomingCall)
		expectResult(t, alice, id, signal.ResultUnanswered)
		expectResult(t, bob, id, signal.ResultUnanswered)
	})
	t.Run("busy while rung by another", func(t *testing.T) {
		id := ring(t, alice, "bob")
		bob.expect(signal.TypeIncomingCall)
		id2 := ring(t, carol, "bob")
		expectResult(t, carol, id2, signal.ResultBusy)
		alice.send(`{"type":"cancel","callId":"` + id + `"}`)
		expectResult(t, alice, id, signal.ResultCancelled)
		expectResult(t, bob, id, signal.ResultCancelled)
	})
	t.Run("offline", func(t *testing.T) {
		dave, _ := goOnline(t, ts, "dave")
		id := ring(t, alice, "dave")
		dave.expect(signal.TypeIncomingCall)
		_ = dave.conn.Close(websocket.StatusNormalClosure, "")
		expectResult(t, alice, id, signal.ResultOffline)
		alice.expect(signal.TypePersonOffline)
	})
	t.Run("caller goes away", func(t *testing.T) {
		erin, _ := goOnline(t, ts, "erin")
		bob.expect(signal.TypePersonOnline)
		erin.send(`{"type":"call","to":"bob"}`)
		id := erin.expect(signal.TypeCalling).CallID
		bob.expect(signal.TypeIncomingCall)
		_ = erin.conn.Close(websocket.StatusNormalClosure, "")
		expectResult(t, bob, id, signal.ResultCancelled)
	})
}

func TestCallBadInput(t *testing.T) {
	ts := startServer(t)
	alice, _ := goOnline(t, ts, "alice")
	bob, _ := goOnline(t, ts, "bob")
	carol, _ := goOnline(t, ts, "carol")

	stranger := dialRaw(t, ts)
	stranger.send(`{"type":"call","to":"alice"}`)
	stranger.expectError(signal.CodeNotOnline)

	alice.send(`{"type":"call","to":"alice"}`)
	alice.expectError(signal.CodeCallSelf)
	alice.send(`{"type":"call","to":"nobody"}`)
	if m := alice.expect(signal.TypeError); m.Code != signal.CodeUnknownPerson || m.To != "nobody" {
		t.Fatalf("error %+v, want unknown_person for \"nobody\"", m)
	}
	alice.send(`{"type":"accept","callId":"0123456789abcdef"}`)
	if m := alice.expect(signal.TypeError); m.Code != signal.CodeUnknownCall || m.CallID != "0123456789abcdef" {
		t.Fatalf("error %+v, want unknown_call naming the call", m)
	}

	id := ring(t, alice, "bob")
	bob.expect(signal.TypeIncomingCall)
	alice.send(`{"type":"call","to":"carol"}`)
	alice.expectError(signal.CodeAlreadyCalling)
	// Someone else's call id: refused, and the call still rings for bob.
	carol.send(`{"type":"accept","callId":"` + id + `"}`)
	carol.expectError(signal.CodeUnknownCall)
	carol.send(`{"type":"cancel","callId":"` + id + `"}`)
	carol.expectError(signal.CodeUnknownCall)
	bob.send(`{"type":"cancel","callId":"` + id + `"}`) // only the caller cancels
	bob.expectError(signal.CodeUnknownCall)
	bob.send(`{"type":"accept","callId":"` + id + `"}`)
	expectResult(t, alice, id, signal.ResultAccepted)
	expectResult(t, bob, id, signal.ResultAccepted)

	// A flood of calls is limited, and rings nobody more than the calls that got through.
	for range 20 {
		carol.send(`{"type":"call","to":"nobody"}`)
	}
	limited := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for range 20 {
		_, b, err := carol.conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m signal.Message
		_ = json.Unmarshal(b, &m)
		if m.Code == signal.CodeRateLimited {
			limited++
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 20 calls in a burst were rate limited, want most", limited)
	}
	expectNothing(t, bob, 300*time.Millisecond)
}

func TestPresenceWithTokens(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	online := func(tok string) (*rawConn, signal.Message) {
		r := dialRaw(t, ts)
		r.send(`{"type":"online","token":"` + tok + `"}`)
		return r, r.expect(signal.TypePresence)
	}
	alice, _ := online(mint(t, all("acme", "alice"), time.Hour))
	_, p := online(mint(t, all("acme", "bob"), time.Hour))
	if len(p.People) != 1 || p.People[0].Identity != "alice" {
		t.Fatalf("bob sees %+v, want alice", p.People)
	}
	alice.expect(signal.TypePersonOnline)
	// Another directory sees nobody, and cannot ring into acme.
	eve, p := online(mint(t, all("other", "eve"), time.Hour))
	if len(p.People) != 0 {
		t.Fatalf("eve of another directory sees %+v", p.People)
	}
	eve.send(`{"type":"call","to":"alice"}`)
	eve.expectError(signal.CodeUnknownPerson)
	// A bad token closes, as for join.
	bad := dialRaw(t, ts)
	bad.send(`{"type":"online","token":"a.b.c"}`)
	bad.expectError(signal.CodeTokenInvalid)
	bad.expectClose(websocket.StatusPolicyViolation)

	// The accepted call's room needs no token of its own.
	bob, _ := online(mint(t, all("acme", "bob2"), time.Hour))
	id := ring(t, alice, "bob2")
	bob.expect(signal.TypeIncomingCall)
	bob.send(`{"type":"accept","callId":"` + id + `"}`)
	room := expectResult(t, alice, id, signal.ResultAccepted).Room
	a := joinCall(t, ts, alice, room, "alice")
	b := joinCall(t, ts, bob, room, "bob2")
	videoFrom(t, b, a)
	if b.Joined.Identity != "bob2" {
		t.Fatalf("bob joined the call as %q, want his token's identity", b.Joined.Identity)
	}
	// A client that reconnects, going online again with its token, may join its call again.
	a.Close()
	again, _ := online(mint(t, all("acme", "alice"), time.Hour))
	a2 := joinCall(t, ts, again, room, "alice")
	videoFrom(t, a2, b)

	// But a room nobody called it into still does.
	tok := mint(t, all("acme", "mallory"), time.Hour)
	r := dialRaw(t, ts)
	r.send(`{"type":"online","token":"` + tok + `"}`)
	r.expect(signal.TypePresence)
	r.send(`{"type":"join","room":"` + room + `","token":"` + tok + `"}`)
	r.expectError(signal.CodeWrongRoom)
	r.expectClose(websocket.StatusPolicyViolation)
}
