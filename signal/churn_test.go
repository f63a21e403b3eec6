package signal_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/signal"
)

// churnSize is how many participants come and go.
const churnSize = 200

// 200 participants join 4 rooms and leave within a few seconds, half of them with "leave" and
// half by dropping their socket; one in ten is a real Pion client that publishes, the rest
// join and never offer. Afterwards the server holds no room, no session, and no goroutine more
// than before.
func TestChurnLeavesNothingBehind(t *testing.T) {
	ts := startServerWith(t, []signal.Option{signal.WithMaxConnectionsPerIP(0), signal.WithMessageRate(1000, 1000)},
		sfu.WithLimits(0, 0, 0))
	// The server's own goroutines (tick, UDP mux, HTTP) are the baseline; what churn starts must
	// all be gone at the end.
	baseline := goleak.IgnoreCurrent()

	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 25) // joins under way at once
	for i := range churnSize {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			room := fmt.Sprintf("churn-%d", i%4)
			name := fmt.Sprintf("p%d", i)
			abrupt := i%2 == 1
			if i%10 == 0 {
				m := join(t, ts, room, name, true)
				time.Sleep(300 * time.Millisecond) // media flows meanwhile
				if abrupt {
					m.Close()
				} else {
					m.Leave()
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, ts.url+"/", nil)
			if err != nil {
				t.Errorf("%s: dial: %v", name, err)
				return
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"`+room+`","name":"`+name+`"}`)); err != nil {
				t.Errorf("%s: join: %v", name, err)
				return
			}
			if _, _, err := c.Read(ctx); err != nil { // joined
				t.Errorf("%s: %v", name, err)
				return
			}
			if !abrupt {
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"leave"}`))
				_, _, _ = c.Read(ctx) // until the server closes
			}
		}()
	}
	wg.Wait()
	t.Logf("%d participants joined and left in %v", churnSize, time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "every session and room to be gone", func() bool {
		return ts.sig.Sessions() == 0 && len(ts.sfu.Rooms()) == 0
	})
	if st := ts.sfu.Stats(); st.Participants != 0 || st.PublishedTracks != 0 || st.SubscribedTracks != 0 {
		t.Fatalf("after churn: %+v", st)
	}
	// The Pion clients' synthetic sources stop when the test ends (join's cleanup); they are the
	// test's, not the server's.
	// Pion's own leak (pionSRTPAcceptLeak) is ignored.
	opts := []goleak.Option{baseline, goleak.IgnoreAnyFunction("github.com/sfu-project/sfu/signal_test.(*synthTrack).run"),
		pionSRTPAcceptLeak}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = goleak.Find(opts...); err == nil {
			return
		}
	}
	t.Fatal(err)
}
