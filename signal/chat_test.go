package signal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/token"
)

// say sends a chat message from m.
func say(t *testing.T, m *member, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Send(ctx, signal.Message{Type: signal.TypeChat, Text: text}); err != nil {
		t.Fatalf("%s: send chat: %v", m.name, err)
	}
}

// nextChat waits for m's next chat message or error, skipping other events.
func nextChat(t *testing.T, m *member) signal.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-m.Events:
			if e.Type == signal.TypeChat || e.Type == signal.TypeError {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: no chat message or error within 5 s", m.name)
		}
	}
}

// expectChat waits for m's next chat message and checks it is text from sender.
func expectChat(t *testing.T, m, sender *member, text string) signal.Message {
	t.Helper()
	e := nextChat(t, m)
	if e.Type != signal.TypeChat {
		t.Fatalf("%s: got error %q (%s), want %s's chat message", m.name, e.Code, e.Message, sender.name)
	}
	if e.From != sender.ID || e.Name != sender.name || e.Text != text {
		t.Fatalf("%s: got chat from %q (%q): %q; want from %s (%q): %q", m.name, e.From, e.Name, trim(e.Text), sender.ID, sender.name, trim(text))
	}
	return e
}

func expectChatError(t *testing.T, m *member, code string) {
	t.Helper()
	if e := nextChat(t, m); e.Type != signal.TypeError || e.Code != code {
		t.Fatalf("%s: got %s %q (%s %q), want error %q", m.name, e.Type, e.Code, e.Message, trim(e.Text), code)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// A chat message reaches every member of the sender's room, the sender too, stamped by the
// server, and nobody in another room.
func TestChatReachesTheRoomOnly(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "red", "alice", true)
	bob := join(t, ts, "red", "bob", false)
	carol := join(t, ts, "blue", "carol", true)
	videoFrom(t, bob, alice) // the call is up: chat goes beside the media, not instead of it

	before := time.Now()
	const text = "hello <b>everyone</b> & \"welcome\" 👋"
	say(t, alice, text)
	for _, m := range []*member{alice, bob} {
		e := expectChat(t, m, alice, text)
		if at := time.UnixMilli(e.Time); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: the chat message is stamped %v; it was sent at %v", m.name, at, before)
		}
	}
	say(t, bob, "hi alice")
	expectChat(t, alice, bob, "hi alice")
	expectChat(t, bob, bob, "hi alice")

	// Carol's own message comes back to her, and nothing of room red came before it.
	say(t, carol, "anyone here?")
	expectChat(t, carol, carol, "anyone here?")
	for _, m := range []*member{alice, bob} {
		select {
		case e := <-m.Events:
			if e.Type == signal.TypeChat {
				t.Errorf("%s got carol's chat message from another room: %q", m.name, e.Text)
			}
		case <-time.After(300 * time.Millisecond):
		}
	}

	// A member who leaves gets nothing more; the others go on.
	dave := join(t, ts, "red", "dave", false)
	dave.Leave()
	<-dave.Done()
	say(t, alice, "dave has gone")
	expectChat(t, bob, alice, "dave has gone")
	if video := videoFrom(t, bob, alice); video.packets.Load() == 0 {
		t.Fatal("alice's video stopped")
	}
}

// Empty and over-long messages are refused with bad_chat, and the session goes on; a message of
// exactly the limit passes, counted in characters, not bytes.
func TestChatLimits(t *testing.T) {
	ts := startServer(t)
	alice := join(t, ts, "limits", "alice", false)
	bob := join(t, ts, "limits", "bob", false)

	for _, text := range []string{"", "   \n\t "} {
		say(t, alice, text)
		expectChatError(t, alice, signal.CodeBadChat)
	}
	long := strings.Repeat("é", signal.MaxChatText) // 2 bytes each
	say(t, alice, long+"!")
	expectChatError(t, alice, signal.CodeBadChat)
	say(t, alice, long)
	expectChat(t, bob, alice, long)
	expectChat(t, alice, alice, long)

	// Chat before a join is refused like any room message.
	c := dialRaw(t, ts)
	c.send(`{"type":"chat","text":"let me in"}`)
	c.expectError(signal.CodeNotJoined)

	// A flood of chat is cut down to the chat burst; what passes reaches the room in order.
	const sent = 40
	for i := range sent {
		say(t, alice, "flood "+string(rune('A'+i)))
	}
	relayed, limited := 0, 0
	for relayed+limited < sent {
		e := nextChat(t, alice)
		switch {
		case e.Type == signal.TypeChat:
			if want := "flood " + string(rune('A'+relayed+limited)); e.Text != want {
				t.Fatalf("alice got %q back, want %q", e.Text, want)
			}
			relayed++
		case e.Code == signal.CodeRateLimited:
			limited++
		default:
			t.Fatalf("alice got error %q (%s)", e.Code, e.Message)
		}
	}
	if limited == 0 || relayed < 10 {
		t.Fatalf("of %d chat messages at once, %d were relayed and %d refused; want some refused, and at least 10 relayed", sent, relayed, limited)
	}
	for range relayed {
		if e := nextChat(t, bob); e.Type != signal.TypeChat || !strings.HasPrefix(e.Text, "flood ") {
			t.Fatalf("bob got %s %q %q, want alice's flood", e.Type, e.Code, e.Text)
		}
	}
	select {
	case <-alice.Done():
		t.Fatal("alice's session ended")
	default:
	}
}

// A token without the data grant may read the room's chat but not write to it.
func TestChatNeedsTheDataGrant(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithKeys(testKeys)})
	alice := joinWithToken(t, ts, "alice", mint(t, all("talk", "alice"), time.Hour), false)
	quiet := joinWithToken(t, ts, "quiet", mint(t, token.Grant{Room: "talk", Identity: "quiet", CanSubscribe: true}, time.Hour), false)
	if quiet.Joined.Permissions == nil || quiet.Joined.Permissions.Data {
		t.Fatalf("quiet joined with permissions %+v, want data false", quiet.Joined.Permissions)
	}
	say(t, quiet, "may I?")
	expectChatError(t, quiet, signal.CodeNotAllowed)
	say(t, alice, "you may listen")
	expectChat(t, quiet, alice, "you may listen")
	expectChat(t, alice, alice, "you may listen")
}
