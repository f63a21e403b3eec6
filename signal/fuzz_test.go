package signal_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sfu-project/sfu/signal"
)

// FuzzSignalMessage sends arbitrary messages to a joined session of a real server. Whatever a
// message is, the server must not fail: the session either goes on (it answers the next
// message) or is closed with one of the documented close codes, and a new session works.
func FuzzSignalMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"r","name":"n"}`, `{"type":"offer","sdp":"v=0\r\n"}`, `{"type":"answer","sdp":""}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host","sdpMid":"0"}}`,
		`{"type":"candidate","candidate":{}}`, `{"type":"mute","audioMuted":true,"videoMuted":false}`,
		`{"type":"trackInfo","trackId":"t","source":"camera","layers":[{"rid":"q","width":320,"height":180}]}`,
		`{"type":"trackSettings","publisher":"x","trackId":"y","width":5,"visible":false}`, `{"type":"leave"}`,
		`{"type":"join","token":"a.b.c"}`, `[]`, `{}`, `null`, `{"type":null}`, `{"type":"offer","sdp":42}`, "\xff",
		`{"type":"online","name":"fuzz"}`, `{"type":"online","name":"other"}`, `{"type":"call","to":"fuzz"}`,
		`{"type":"call","to":"x"}`, `{"type":"accept","callId":"0011223344556677"}`, `{"type":"reject","callId":""}`,
		`{"type":"cancel","callId":"x"}`, `{"type":"chat","text":"hi"}`,
	} {
		f.Add([]byte(s))
	}
	ts := startServerWith(f, []signal.Option{signal.WithMessageRate(1e6, 1e6)})
	var conn *websocket.Conn
	documented := []websocket.StatusCode{websocket.StatusNormalClosure, websocket.StatusPolicyViolation,
		websocket.StatusMessageTooBig, websocket.StatusInternalError, signal.StatusConnectionLost, signal.StatusReplaced}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn == nil {
			c, _, err := websocket.Dial(ctx, ts.url+"/", nil)
			if err != nil {
				t.Fatalf("the server takes no new session: %v", err)
			}
			c.SetReadLimit(1 << 22)
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"fuzz","name":"fuzz"}`)); err != nil {
				t.Fatal(err)
			}
			readUntil(ctx, t, c, signal.TypeJoined)
			conn = c
		}
		_ = conn.Write(ctx, websocket.MessageText, b)
		// A probe: its answer comes after whatever b caused.
		_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"probe"}`))
		if err := readUntil(ctx, t, conn, ""); err != nil {
			if code := websocket.CloseStatus(err); !slices.Contains(documented, code) {
				t.Fatalf("after %q the session ended with %v (%v)", b, code, err)
			}
			_ = conn.CloseNow()
			conn = nil
		}
	})
	if conn != nil {
		_ = conn.CloseNow()
	}
}

// readUntil reads messages until one of type typ, or, with typ "", the unknown_type error that
// answers a probe. It returns the read error if the socket closes first.
func readUntil(ctx context.Context, t *testing.T, c *websocket.Conn, typ string) error {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if typ != "" {
				t.Fatalf("waiting for %q: %v", typ, err)
			}
			return err
		}
		var m signal.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("the server sent bad JSON %q", b)
		}
		if (typ != "" && m.Type == typ) || (typ == "" && m.Type == signal.TypeError && m.Code == signal.CodeUnknownType) {
			return nil
		}
	}
}
