package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// stateChange is one change of window.sfuClient.state, timed by the page's clock.
type stateChange struct {
	State string `json:"state"`
	At    int64  `json:"at"` // ms since the epoch
}

// recordStates makes the page keep every change of window.sfuClient.state from now on.
func (b *browser) recordStates() error {
	_, err := eval[string](b, `(() => {
  const c = window.sfuClient;
  let state = c.state;
  window.__sfuE2EStates = [{state, at: Date.now()}];
  Object.defineProperty(c, 'state', {
    configurable: true,
    enumerable: true,
    get: () => state,
    set: (v) => { state = v; window.__sfuE2EStates.push({state: v, at: Date.now()}); },
  });
  return state;
})()`)
	return err
}

func (b *browser) states() ([]stateChange, error) {
	return eval[[]stateChange](b, `window.__sfuE2EStates ?? []`)
}

// startProxy puts a proxy in front of srv's HTTP address for the test (proxy.go): pages opened
// through it can have their WebSockets cut.
func startProxy(t *testing.T, srv *server) *Proxy {
	t.Helper()
	proxy, err := NewProxy(srv.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proxy.Close(); err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	return proxy
}

// TestSignalingReconnect drops a client's WebSocket, as a network failure would: the client
// must reconnect by itself, join again and get the call back, both ways.
func TestSignalingReconnect(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	proxy := startProxy(t, srv)
	room := roomName("reconnect")
	// Ann's page, and so its WebSocket, goes through the proxy; her media does not.
	members := joinAll(t,
		browserSpec{name: "ann", url: pageURL(proxy.Addr(), room, "ann")},
		browserSpec{name: "ben", url: srv.URL(room, "ben")},
	)
	ann, ben := members[0], members[1]
	waitAllInCall(t, members)
	checkPlaying(t, members)

	if err := ann.recordStates(); err != nil {
		t.Fatal(err)
	}
	if err := watchTiles([]*member{ben}, ann.id); err != nil {
		t.Fatal(err)
	}
	oldID := ann.id
	cut := time.Now()
	if n := proxy.CutWebSockets(); n != 1 {
		t.Fatalf("cut %d WebSocket connections of ann's, want 1", n)
	}

	// Ann's page goes through "reconnecting" and back to "joined", as a new participant.
	var changes []stateChange
	err := eventually(joinTimeout, poll, func() error {
		var err error
		if changes, err = ann.states(); err != nil {
			return err
		}
		var seq []string
		for _, c := range changes {
			seq = append(seq, c.State)
		}
		i := slices.Index(seq, "reconnecting")
		if i < 0 || !slices.Contains(seq[i:], "joined") || seq[len(seq)-1] != "joined" {
			return fmt.Errorf("ann's states since the cut: %v, want reconnecting then joined", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ann.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.ParticipantID == oldID || s.ParticipantID == "" {
		t.Fatalf("ann's participant id after reconnecting is %q, want a new one (was %s)", s.ParticipantID, oldID)
	}
	ann.id = s.ParticipantID
	for _, c := range changes[1:] {
		t.Logf("ann: %s %v after the cut", c.State, time.UnixMilli(c.At).Sub(cut).Round(time.Millisecond))
	}
	gone, err := waitTileGone([]*member{ben}, oldID, cut, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ann's old tile gone from ben's page %v after the cut", gone[0].Round(time.Millisecond))

	// Both get each other's video back, at a real frame rate.
	err = eventually(joinTimeout, 50*time.Millisecond, func() error {
		s, err := ben.snapshot()
		if err != nil {
			return err
		}
		if s.decodedVideo()[ann.id] == 0 {
			return fmt.Errorf("ben decodes no video of ann's new session (%s)", ann.id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ben decodes ann's video again %v after the cut", time.Since(cut).Round(time.Millisecond))
	waitAllInCall(t, members)
	checkPlaying(t, members)
}
