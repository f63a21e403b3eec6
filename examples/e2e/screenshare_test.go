package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestScreenShare: alice shares her screen with the Share screen button (Chromium's fake capture
// UI picks a fake screen at once, headless). Bob gets it as a tile of its own, named for alice,
// apart from her camera tile and larger than any camera tile, and keeps getting her camera.
// When alice stops sharing, the tile goes away from bob's page.
func TestScreenShare(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	room := roomName("screen")
	members := joinAll(t,
		browserSpec{name: "alice", url: srv.URL(room, "alice")},
		browserSpec{name: "bob", url: srv.URL(room, "bob"), desktop: true},
	)
	alice, bob := members[0], members[1]
	waitAllInCall(t, members)

	clicked, err := alice.click("#share-screen")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitSharing(alice, true); err != nil {
		t.Fatal(err)
	}
	var s snapshot
	err = eventually(joinTimeout, poll, func() error {
		var err error
		if s, err = bob.snapshot(); err != nil {
			return err
		}
		if len(s.Screens) != 1 {
			return fmt.Errorf("bob shows %d screen tiles, want 1: %+v", len(s.Screens), s.Screens)
		}
		if sc := s.Screens[0]; sc.ID != alice.id || sc.Name != "alice (screen)" {
			return fmt.Errorf("bob shows a screen tile %+v, want alice's, named \"alice (screen)\"", sc)
		}
		decoded := s.decodedVideo()
		if decoded[alice.id+"/screen"] != 1 || decoded[alice.id] != 1 {
			return fmt.Errorf("bob decodes, per tile: %v; want alice's camera and her screen once each", decoded)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bob shows alice's screen %v after she clicked Share screen", time.Since(clicked).Round(time.Millisecond))
	for _, in := range s.Inbound {
		if in.Owner == alice.id+"/screen" && in.Kind == "video" {
			t.Logf("bob decodes alice's screen at %dx%d", in.FrameWidth, in.FrameHeight)
		}
	}
	sc := s.Screens[0]
	biggest, err := eval[float64](bob.browser, `Math.max(...[...document.querySelectorAll('#grid .tile:not(.screen)')]
  .map((t) => t.getBoundingClientRect()).map((r) => r.width * r.height))`)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Width*sc.Height <= biggest {
		t.Errorf("alice's screen is %.0fx%.0f on bob's page, no larger than a camera tile (%.0f px²)",
			sc.Width, sc.Height, biggest)
	}
	saveScreenshot(t, bob, "screen-share.png")
	if err := watchScreens(bob); err != nil {
		t.Fatal(err)
	}

	stopped, err := alice.click("#share-screen")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitSharing(alice, false); err != nil {
		t.Fatal(err)
	}
	err = eventually(10*time.Second, poll, func() error {
		ms, err := eval[int64](bob.browser, `window.__sfuE2EScreenGone ?? 0`)
		if err != nil {
			return err
		}
		if ms == 0 {
			return fmt.Errorf("bob still shows alice's screen")
		}
		t.Logf("alice's screen gone from bob's page %v after she clicked Stop sharing",
			time.UnixMilli(ms).Sub(stopped).Round(time.Millisecond))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The call goes on as before: each plays the other's camera and microphone.
	waitAllInCall(t, members)
	checkPlaying(t, members)
}

// waitSharing waits until the page's Share screen button says that it shares (or not).
func waitSharing(m *member, sharing bool) error {
	return eventually(5*time.Second, poll, func() error {
		pressed, err := eval[string](m.browser, `document.querySelector('#share-screen').getAttribute('aria-pressed')`)
		if err != nil {
			return err
		}
		if pressed != fmt.Sprint(sharing) {
			return fmt.Errorf("%s's Share screen button has aria-pressed=%s, want %v", m.name, pressed, sharing)
		}
		return nil
	})
}

// watchScreens makes the page note, by its own clock, when it no longer shows any screen tile.
func watchScreens(m *member) error {
	_, err := eval[bool](m.browser, `(() => {
  const check = () => {
    if (!document.querySelector('#grid .tile.screen')) window.__sfuE2EScreenGone ??= Date.now();
  };
  new MutationObserver(check).observe(document.querySelector('#grid'), {childList: true});
  return true;
})()`)
	return err
}
