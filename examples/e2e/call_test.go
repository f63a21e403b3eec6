package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestThreePersonCall is a call as three people have it: they join and see and hear each other;
// one mutes and unmutes; one leaves with the Leave button; one's browser dies.
func TestThreePersonCall(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	room := roomName("call")
	var specs []browserSpec
	for _, name := range []string{"alice", "bob", "carol"} {
		specs = append(specs, browserSpec{name: name, url: srv.URL(room, name), desktop: name == "alice"})
	}
	members := joinAll(t, specs...)
	alice, bob, carol := members[0], members[1], members[2]

	ok := t.Run("join", func(t *testing.T) {
		waitAllInCall(t, members)
		// Nobody left or joined twice, so every decoded stream is someone's tile: exactly two.
		for _, m := range members {
			s, err := m.snapshot()
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range s.decodedVideo() {
				total += n
			}
			if total != 2 {
				t.Errorf("%s decodes %d remote videos, want exactly 2 (%v)", m.name, total, s.decodedVideo())
			}
		}
		checkPlaying(t, members)
		// The fake microphones beep: the server names an active speaker, and every client
		// outlines the same participant's tile, and makes it larger.
		err := eventually(10*time.Second, 200*time.Millisecond, func() error {
			var first string
			for _, m := range members {
				id, err := eval[string](m.browser, `document.querySelector('.tile.speaking')?.dataset.participantId ?? ''`)
				if err != nil {
					return err
				}
				if id == "" || (first != "" && id != first) {
					return fmt.Errorf("%s shows speaker %q, another client %q", m.name, id, first)
				}
				first = id
				if featured, err := eval[bool](m.browser, `document.querySelector('#grid').hasAttribute('data-featured')`); err != nil || !featured {
					return fmt.Errorf("%s does not feature the speaker's tile (%v)", m.name, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("active speaker: %v", err)
		}
		if !t.Failed() {
			saveScreenshot(t, alice, "three-person-call.png")
			savePhoneScreenshot(t, alice, "three-person-call-phone.png")
		}
	})
	if !ok {
		return
	}

	ok = t.Run("mute and unmute", func(t *testing.T) {
		viewers := []*member{bob, carol}
		for _, sel := range []string{"#mute-video", "#mute-audio"} {
			if _, err := alice.click(sel); err != nil {
				t.Fatal(err)
			}
		}
		waitMuteShown(t, alice, members, true)
		// The client disables its tracks: the browser goes on sending, black frames and
		// silence, and the server forwards them as any other media. What the others see is
		// a black picture (under the avatar) and what they hear is nothing.
		waitPicture(t, alice, viewers, false)
		// Sound already on its way (jitter buffers hold a few hundred milliseconds on a busy
		// machine) may still play: silence must come within a few seconds, and stay for a
		// measured window.
		flows, err := measureUntil(t, 10*time.Second, 2*time.Second, browsersOf(viewers...), func(flows []flow) error {
			var errs []error
			for i, v := range viewers {
				if e := flows[i].audioEnergy[alice.id]; e > silence {
					errs = append(errs, fmt.Errorf("%s hears alice while she is muted: audio energy %.3g over %.1f s",
						v.name, e, flows[i].seconds))
				}
			}
			return errors.Join(errs...)
		})
		for i, v := range viewers {
			if i < len(flows) {
				t.Logf("while alice is muted, %s receives %v", v.name, flows[i])
			}
		}
		if err != nil {
			t.Error(err)
		}

		for _, sel := range []string{"#mute-video", "#mute-audio"} {
			if _, err := alice.click(sel); err != nil {
				t.Fatal(err)
			}
		}
		waitMuteShown(t, alice, members, false)
		waitPicture(t, alice, viewers, true)
		flows = checkPlaying(t, members)
		for i, m := range members {
			if m != alice && flows[i].audioEnergy[alice.id] <= silence {
				t.Errorf("%s does not hear alice after she unmuted: audio energy %.3g", m.name, flows[i].audioEnergy[alice.id])
			}
		}
	})
	if !ok {
		return
	}

	ok = t.Run("leave", func(t *testing.T) {
		if err := watchTiles([]*member{alice, bob}, carol.id); err != nil {
			t.Fatal(err)
		}
		left, err := carol.click("#leave")
		if err != nil {
			t.Fatal(err)
		}
		gone, err := waitTileGone([]*member{alice, bob}, carol.id, left, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("carol's tile gone %v (alice) and %v (bob) after she clicked Leave", gone[0], gone[1])
		s, err := carol.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if s.State != "left" {
			t.Errorf("carol's state is %q after Leave, want left", s.State)
		}
		remaining := []*member{alice, bob}
		waitAllInCall(t, remaining)
		checkPlaying(t, remaining)
	})
	if !ok {
		return
	}

	t.Run("browser killed", func(t *testing.T) {
		if err := watchTiles([]*member{alice}, bob.id); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := bob.kill(); err != nil {
			t.Fatal(err)
		}
		gone, err := waitTileGone([]*member{alice}, bob.id, killed, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bob's tile gone from alice's page %v after his browser was killed", gone[0])
		if _, err := waitInCall(alice.browser, alice.name, map[string]string{}); err != nil {
			t.Fatal(err)
		}
		flows, err := measureAll(time.Second, alice.browser)
		if err != nil {
			t.Fatal(err)
		}
		if err := playing(alice.name, flows[0], nil); err != nil {
			t.Error(err)
		}
	})
}

// waitMuteShown waits until every page shows who's mute state: muted or not, for both the
// microphone and the camera.
func waitMuteShown(t *testing.T, who *member, members []*member, muted bool) {
	t.Helper()
	start := time.Now()
	for _, m := range members {
		err := eventually(5*time.Second, poll, func() error {
			s, err := m.snapshot()
			if err != nil {
				return err
			}
			tl, ok := s.tile(who.id)
			if !ok {
				return fmt.Errorf("%s shows no tile for %s", m.name, who.name)
			}
			if tl.AudioMuted != muted || tl.VideoMuted != muted {
				return fmt.Errorf("%s shows %s's tile with audio muted %v, video muted %v; want %v",
					m.name, who.name, tl.AudioMuted, tl.VideoMuted, muted)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("every page shows %s muted=%v within %v", who.name, muted, time.Since(start).Round(time.Millisecond))
}

// silence is the most audio energy (getStats' totalAudioEnergy) a muted stream may bring in a
// measured interval; the fake microphone's beeps bring orders of magnitude more.
const silence = 1e-6

// waitPicture waits until every viewer shows who's video as a picture (shown) or as black frames
// (!shown), judged by brightness: the fake camera's picture is a bright green.
func waitPicture(t *testing.T, who *member, viewers []*member, shown bool) {
	t.Helper()
	const dark = 8 // of 255: black frames decode to about 0 (video range black is 16 before conversion)
	start := time.Now()
	for _, v := range viewers {
		err := eventually(5*time.Second, poll, func() error {
			s, err := v.snapshotWith(true)
			if err != nil {
				return err
			}
			tl, ok := s.tile(who.id)
			switch {
			case !ok:
				return fmt.Errorf("%s shows no tile for %s", v.name, who.name)
			case shown && tl.Brightness <= dark, !shown && (tl.Brightness < 0 || tl.Brightness > dark):
				return fmt.Errorf("%s shows %s's video at brightness %.1f (of 255), want a picture: %v",
					v.name, who.name, tl.Brightness, shown)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("every viewer shows %s's picture=%v within %v", who.name, shown, time.Since(start).Round(time.Millisecond))
}

// saveScreenshot keeps a picture of the page as m sees it, for people to look at, under name in
// $SFU_SCREENSHOTS, or else in the run's artifacts folder.
func saveScreenshot(t *testing.T, m *member, name string) {
	t.Helper()
	png, err := m.screenshot()
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("SFU_SCREENSHOTS")
	if dir == "" {
		dir = artifactsDir(t)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot of %s's page: %s", m.name, path)
}

// Phone size: a phone held upright, in CSS pixels, and its device pixel ratio.
const (
	phoneWidth, phoneHeight = 390, 844
	phoneScale              = 2
)

// savePhoneScreenshot shows m's page at phone size for a moment, keeps a screenshot of it as
// saveScreenshot does, and gives the page its desktop size back.
func savePhoneScreenshot(t *testing.T, m *member, name string) {
	t.Helper()
	if err := m.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(phoneScale), chromedp.EmulateMobile)); err != nil {
		t.Errorf("phone size: %v", err)
		return
	}
	defer func() {
		if err := m.do(chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
			t.Errorf("back to desktop size: %v", err)
		}
	}()
	// The grid lays itself out again for the narrow screen (a ResizeObserver), and the server
	// sends each tile the layer its new size needs: give the pictures a moment to follow.
	err := eventually(5*time.Second, poll, func() error {
		portrait, err := eval[bool](m.browser, `document.querySelector('#grid').getBoundingClientRect().width < 500`)
		if err != nil {
			return err
		}
		if !portrait {
			return fmt.Errorf("%s's grid is not narrow yet", m.name)
		}
		return nil
	})
	if err != nil {
		t.Errorf("phone size: %v", err)
		return
	}
	time.Sleep(1500 * time.Millisecond)
	saveScreenshot(t, m, name)
}
