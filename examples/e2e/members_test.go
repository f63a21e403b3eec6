package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// member is one participant of a test call: a browser, the name it joined with, and the
// participant id the server gave it.
type member struct {
	*browser
	name, id string
}

// roomName is a room of its own for each test.
func roomName(prefix string) string { return fmt.Sprintf("%s-%06x", prefix, rand.N(1<<24)) }

// localServer starts the server on loopback, for browsers on this machine.
func localServer(t *testing.T) *server {
	return startServer(t, nil, "-http", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-loopback-candidates")
}

// joinAll opens a browser per spec and waits until each has joined its room.
func joinAll(t *testing.T, specs ...browserSpec) []*member {
	t.Helper()
	return waitAllJoined(t, openBrowsers(t, specs...))
}

// waitAllJoined waits until each browser has joined a room, and returns them as members.
func waitAllJoined(t *testing.T, browsers []*browser) []*member {
	t.Helper()
	members := make([]*member, len(browsers))
	for i, b := range browsers {
		s, err := waitJoined(b)
		if err != nil {
			t.Fatal(err)
		}
		members[i] = &member{browser: b, name: b.name, id: s.ParticipantID}
	}
	return members
}

// others maps the participant ids of every member but m to their names: what m should show.
func others(m *member, members []*member) map[string]string {
	want := make(map[string]string)
	for _, o := range members {
		if o != m {
			want[o.id] = o.name
		}
	}
	return want
}

func browsersOf(members ...*member) []*browser {
	var bs []*browser
	for _, m := range members {
		bs = append(bs, m.browser)
	}
	return bs
}

// waitAllInCall waits until every member shows and plays exactly the others.
func waitAllInCall(t *testing.T, members []*member) {
	t.Helper()
	for _, m := range members {
		if _, err := waitInCall(m.browser, m.name, others(m, members)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkPlaying checks that every member plays the video and audio of exactly the others, at a
// real frame rate, in one measured window within playTimeout, and returns that window's flows.
func checkPlaying(t *testing.T, members []*member) []flow {
	t.Helper()
	return checkPlayingIn(t, members)
}

// checkPlayingIn is checkPlaying for members of several rooms at once, measured in the same
// windows: each plays exactly the others of its own room. The flows are in the order of the
// rooms' members.
func checkPlayingIn(t *testing.T, rooms ...[]*member) []flow {
	t.Helper()
	var all []*member
	for _, room := range rooms {
		all = append(all, room...)
	}
	flows, err := measureUntil(t, playTimeout, measureFor, browsersOf(all...), func(flows []flow) error {
		sent := sentFPS(all, flows)
		var errs []error
		i := 0
		for _, room := range rooms {
			for _, m := range room {
				var want []string
				for _, o := range room {
					if o != m {
						want = append(want, o.id)
					}
				}
				if err := playing(m.name, flows[i], sent, want...); err != nil {
					errs = append(errs, err)
				}
				i++
			}
		}
		return errors.Join(errs...)
	})
	for i, m := range all {
		if i < len(flows) {
			t.Logf("%s receives %v", m.name, flows[i])
		}
	}
	if err != nil {
		t.Error(err)
	}
	return flows
}

// sentFPS maps each member's participant id to the frame rate its browser sent at.
func sentFPS(members []*member, flows []flow) map[string]float64 {
	sent := make(map[string]float64)
	for i, m := range members {
		sent[m.id] = flows[i].sentFPS
	}
	return sent
}

// watchTiles makes each observer's page note, by its own clock, when the tile of id goes away.
// A MutationObserver times it to the millisecond, whatever the polling interval.
func watchTiles(observers []*member, id string) error {
	const js = `(() => {
  const id = %q;
  window.__sfuE2EGone ??= {};
  const shown = () => [...document.querySelectorAll('#grid .tile')].some((t) => t.dataset.participantId === id);
  const check = () => { if (!shown() && !window.__sfuE2EGone[id]) window.__sfuE2EGone[id] = Date.now(); };
  new MutationObserver(check).observe(document.querySelector('#grid'), {childList: true});
  return shown();
})()`
	for _, o := range observers {
		shown, err := eval[bool](o.browser, fmt.Sprintf(js, id))
		if err != nil {
			return err
		}
		if !shown {
			return fmt.Errorf("%s shows no tile for %s to watch", o.name, id)
		}
	}
	return nil
}

// waitTileGone waits until no observer shows a tile for id (after watchTiles), and returns how
// long after since each page removed it.
func waitTileGone(observers []*member, id string, since time.Time, timeout time.Duration) ([]time.Duration, error) {
	gone := make([]time.Duration, len(observers))
	err := eventually(timeout, 50*time.Millisecond, func() error {
		for i, o := range observers {
			ms, err := eval[int64](o.browser, fmt.Sprintf(`window.__sfuE2EGone?.[%q] ?? 0`, id))
			if err != nil {
				return err
			}
			if ms == 0 {
				return fmt.Errorf("%s still shows the tile of %s", o.name, id)
			}
			gone[i] = time.UnixMilli(ms).Sub(since)
		}
		return nil
	})
	return gone, err
}
