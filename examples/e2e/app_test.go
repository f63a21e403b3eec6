package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The app as a person meets it: the lobby, its form, the invite link, the devices, the chat.

// videoPlays checks that the video element selector matches plays: it has a picture
// (videoWidth) and its frames advance.
func videoPlays(b *browser, selector string) error {
	type state struct {
		Width  int     `json:"width"`
		Frames float64 `json:"frames"`
		Time   float64 `json:"time"`
	}
	read := func() (state, error) {
		return eval[state](b, fmt.Sprintf(`(() => {
  const v = document.querySelector(%q);
  if (!v) return {width: -1, frames: 0, time: 0};
  const q = v.getVideoPlaybackQuality?.();
  return {width: v.videoWidth, frames: q ? q.totalVideoFrames : 0, time: v.currentTime};
})()`, selector))
	}
	return eventually(playTimeout, 250*time.Millisecond, func() error {
		first, err := read()
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond) // the interval the frames are counted over
		second, err := read()
		if err != nil {
			return err
		}
		switch {
		case second.Width < 0:
			return fmt.Errorf("%s: no %s", b.name, selector)
		case second.Width == 0:
			return fmt.Errorf("%s: %s has no picture", b.name, selector)
		case second.Frames <= first.Frames || second.Time <= first.Time:
			return fmt.Errorf("%s: %s does not advance (frames %v -> %v, time %.2f -> %.2f)",
				b.name, selector, first.Frames, second.Frames, first.Time, second.Time)
		}
		return nil
	})
}

// typeInto types text into an input, as a person would.
func (b *browser) typeInto(selector, text string) error {
	if err := b.do(chromedp.SendKeys(chromedp.CSS(selector), text)); err != nil {
		return fmt.Errorf("%s: type into %s: %w", b.name, selector, err)
	}
	return nil
}

// waitFor waits until the JavaScript expression js is true on the page.
func (b *browser) waitFor(what, js string) error {
	return eventually(joinTimeout, poll, func() error {
		ok, err := eval[bool](b, js)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: %s", b.name, what)
		}
		return nil
	})
}

// joinThroughLobby fills in the lobby's form and joins, and returns the member.
func joinThroughLobby(t *testing.T, b *browser, room, name string) *member {
	t.Helper()
	if err := b.waitFor("no lobby shown", `!document.querySelector('#lobby').hidden`); err != nil {
		t.Fatal(err)
	}
	if room != "" {
		if err := b.typeInto("#room-input", room); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.typeInto("#name-input", name); err != nil {
		t.Fatal(err)
	}
	if _, err := b.click("#join-button"); err != nil {
		t.Fatal(err)
	}
	s, err := waitJoined(b)
	if err != nil {
		t.Fatal(err)
	}
	return &member{browser: b, name: name, id: s.ParticipantID}
}

// TestLobbyAndInvite: the lobby at "/" previews the fake camera; joining through its form works;
// the invite link opens the lobby of the same room, and whoever joins through it meets the first.
// The room and name are remembered for the next visit.
func TestLobbyAndInvite(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	room := roomName("lobby")
	home := "http://" + srv.httpAddr + "/"
	browsers := openBrowsers(t,
		browserSpec{name: "alice", url: home, desktop: true},
	)
	alice := browsers[0]

	if err := videoPlays(alice, "#preview"); err != nil {
		t.Fatalf("the lobby's preview: %v", err)
	}
	cameras, err := eval[int](alice, `document.querySelector('#camera-select').options.length`)
	if err != nil {
		t.Fatal(err)
	}
	if cameras < 1 {
		t.Fatalf("the lobby lists %d cameras, want the fake one", cameras)
	}
	saveScreenshot(t, &member{browser: alice, name: "alice"}, "lobby.png")

	a := joinThroughLobby(t, alice, room, "alice")
	loc, err := eval[string](alice, `location.search`)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := url.ParseQuery(strings.TrimPrefix(loc, "?")); q.Get("room") != room || q.Get("name") != "alice" {
		t.Errorf("after joining, the page's address has %q; want the room and name, to rejoin by reloading", loc)
	}

	if _, err := alice.click("#invite"); err != nil {
		t.Fatal(err)
	}
	var link string
	err = eventually(5*time.Second, poll, func() error {
		var err error
		link, err = eval[string](alice, `document.querySelector('#invite-dialog').open ? document.querySelector('#invite-link').value : ''`)
		if err == nil && link == "" {
			err = fmt.Errorf("alice's invite dialog shows no link")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("invite link: %s", link)
	if u, err := url.Parse(link); err != nil || u.Query().Get("room") != room || u.Query().Has("name") {
		t.Fatalf("the invite link %q does not name room %s alone", link, room)
	}
	if err := alice.do(chromedp.KeyEvent("\x1b")); err != nil { // Escape closes the dialog
		t.Fatal(err)
	}

	bob := openBrowsers(t, browserSpec{name: "bob", url: link})[0]
	if err := bob.waitFor("the invite's lobby does not show the room", fmt.Sprintf(`document.querySelector('#room-input').value === %q`, room)); err != nil {
		t.Fatal(err)
	}
	b := joinThroughLobby(t, bob, "", "bob")
	members := []*member{a, b}
	waitAllInCall(t, members)
	checkPlaying(t, members)

	// Each tile tells how the connection to its member is, from getStats.
	bobsTile := fmt.Sprintf(`.tile:not([data-local]):not(.screen)[data-participant-id=%q]`, b.id)
	err = alice.waitFor("alice's tile of bob shows no connection quality", fmt.Sprintf(`(() => {
  const q = document.querySelector(%q + ' .quality');
  return ['good', 'fair', 'poor'].includes(q?.dataset.level) && /bit\/s, \d+ fps, [\d.]+%% loss/.test(q.getAttribute('aria-label'));
})()`, bobsTile))
	if err != nil {
		t.Fatal(err)
	}
	quality, err := eval[string](alice, fmt.Sprintf(`document.querySelector(%q + ' .quality').getAttribute('aria-label')`, bobsTile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alice's tile of bob: %q", quality)

	// A click pins bob's tile large; Escape, on the focused tile, lets it go.
	if _, err := alice.click(bobsTile); err != nil {
		t.Fatal(err)
	}
	larger := fmt.Sprintf(`(() => {
  const tile = document.querySelector(%q), self = document.querySelector('.tile[data-local="true"]');
  const area = (e) => e.getBoundingClientRect().width * e.getBoundingClientRect().height;
  return tile.classList.contains('pinned') && area(tile) > 2 * area(self);
})()`, bobsTile)
	if err := alice.waitFor("bob's tile is not pinned large on alice's page", larger); err != nil {
		t.Fatal(err)
	}
	if err := alice.do(chromedp.Focus(chromedp.CSS(bobsTile)), chromedp.KeyEvent("\x1b")); err != nil {
		t.Fatal(err)
	}
	if err := alice.waitFor("bob's tile is still pinned after Escape", `!document.querySelector('.tile.pinned')`); err != nil {
		t.Fatal(err)
	}

	// Back at "/", the lobby remembers the room and the name.
	if err := bob.do(chromedp.Navigate(home)); err != nil {
		t.Fatal(err)
	}
	remembered := fmt.Sprintf(`!document.querySelector('#lobby').hidden && document.querySelector('#room-input').value === %q && document.querySelector('#name-input').value === 'bob'`, room)
	if err := bob.waitFor("the lobby does not remember the room and name", remembered); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceSelection: alice has more than one camera and picks another one during the call, in
// the device settings. Her browser publishes the new camera on the same sender, her own tile shows
// it, and bob goes on seeing her, from the new camera.
func TestDeviceSelection(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	room := roomName("devices")
	members := joinAll(t,
		browserSpec{name: "alice", url: srv.URL(room, "alice"),
			// Chromium's fake cameras cycle through pixel formats: I420, Y16 (depth, which it
			// does not encode), MJPEG. The test switches from the first to the last.
			flags: map[string]any{"use-fake-device-for-media-stream": "device-count=3"}},
		browserSpec{name: "bob", url: srv.URL(room, "bob")},
	)
	alice, bob := members[0], members[1]
	waitAllInCall(t, members)

	type device struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	}
	// sentCamera is the device of the track alice's camera sender sends, and whether her own
	// tile shows that same track.
	const sentCamera = `(() => {
  const sender = window.sfuClient.pc.getSenders().find((s) => s.track?.kind === 'video');
  const shown = document.querySelector('.tile[data-local="true"] video')?.srcObject?.getVideoTracks()[0];
  return {id: sender?.track?.getSettings().deviceId ?? '', label: sender?.track?.label ?? '', shown: shown === sender?.track};
})()`
	before, err := eval[device](alice.browser, sentCamera)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.click("#open-settings"); err != nil {
		t.Fatal(err)
	}
	var options []device
	err = eventually(5*time.Second, poll, func() error {
		var err error
		options, err = eval[[]device](alice.browser, `[...document.querySelectorAll('#call-camera-select option')].map((o) => ({id: o.value, label: o.textContent}))`)
		if err == nil && len(options) < 3 {
			err = fmt.Errorf("alice's device settings list cameras %v, want three", options)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	other := options[len(options)-1]
	if other.ID == before.ID {
		t.Fatalf("alice sends from the last camera of the list already, %q", other.Label)
	}
	t.Logf("alice sends camera %q, and switches to %q", before.Label, other.Label)
	// A person picks the other camera in the list.
	if _, err := eval[bool](alice.browser, fmt.Sprintf(`(() => {
  const select = document.querySelector('#call-camera-select');
  select.value = %q;
  select.dispatchEvent(new Event('change', {bubbles: true}));
  return true;
})()`, other.ID)); err != nil {
		t.Fatal(err)
	}
	type sent struct {
		device
		Shown bool `json:"shown"`
	}
	err = eventually(10*time.Second, poll, func() error {
		s, err := eval[sent](alice.browser, sentCamera)
		if err != nil {
			return err
		}
		if s.ID != other.ID || !s.Shown {
			return fmt.Errorf("alice sends camera %q (%s), her tile shows it: %v; want %q", s.Label, s.ID, s.Shown, other.Label)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Bob's picture of alice goes on, from the new camera: same tile, frames advancing.
	if err := videoPlays(bob.browser, fmt.Sprintf(`.tile:not([data-local]):not(.screen)[data-participant-id=%q] video`, alice.id)); err != nil {
		t.Fatal(err)
	}
	waitAllInCall(t, members)
	checkPlaying(t, members)
	if remembered, err := eval[string](alice.browser, `localStorage.getItem('sfu-example.camera') ?? ''`); err != nil || remembered != other.ID {
		t.Errorf("alice's browser remembers camera %q (%v), want %q", remembered, err, other.ID)
	}
}

// TestChat: what ann writes reaches ben in her room, and not cat in another room, and the other
// way round; a message arriving while the chat is closed shows as unread.
func TestChat(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	red, blue := roomName("red"), roomName("blue")
	members := joinAll(t,
		browserSpec{name: "ann", url: srv.URL(red, "ann")},
		browserSpec{name: "ben", url: srv.URL(red, "ben")},
		browserSpec{name: "cat", url: srv.URL(blue, "cat")},
	)
	ann, ben, cat := members[0], members[1], members[2]
	waitAllInCall(t, members[:2])
	for _, m := range members {
		if err := m.scaleDown(2); err != nil { // three cameras on two cores: this test is about text
			t.Fatal(err)
		}
	}

	say := func(m *member, text string) {
		t.Helper()
		open, err := eval[bool](m.browser, `!document.querySelector('#chat').hidden`)
		if err != nil {
			t.Fatal(err)
		}
		if !open {
			if _, err := m.click("#toggle-chat"); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.typeInto("#chat-input", text+"\r"); err != nil { // Enter sends
			t.Fatal(err)
		}
	}
	// messages is what a page's chat shows: "name: text" per message.
	messages := func(m *member) []string {
		t.Helper()
		got, err := eval[[]string](m.browser, `[...document.querySelectorAll('#chat-log .message:not(.note)')]
  .map((li) => li.querySelector('.message-name').textContent + ': ' + li.querySelector('.message-text').textContent)`)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	waitMessages := func(m *member, want ...string) {
		t.Helper()
		err := eventually(5*time.Second, poll, func() error {
			if got := messages(m); strings.Join(got, "\n") != strings.Join(want, "\n") {
				return fmt.Errorf("%s's chat shows %q, want %q", m.name, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	const hello = "Hello ben, <b>this</b> is not bold & stays text"
	say(ann, hello)
	waitMessages(ann, "You: "+hello)
	waitMessages(ben, "ann: "+hello)
	unread, err := eval[string](ben.browser, `document.querySelector('#unread').hidden ? '' : document.querySelector('#unread').textContent`)
	if err != nil {
		t.Fatal(err)
	}
	if unread != "1" {
		t.Errorf("ben's chat button shows %q unread, want 1", unread)
	}
	if bold, err := eval[int](ben.browser, `document.querySelectorAll('#chat-log b').length`); err != nil || bold != 0 {
		t.Errorf("ben's chat made HTML of the text: %d <b> elements (%v)", bold, err)
	}

	say(cat, "Is anyone in blue?")
	waitMessages(cat, "You: Is anyone in blue?")
	say(ben, "Hi ann!")
	waitMessages(ann, "You: "+hello, "ben: Hi ann!")
	waitMessages(ben, "ann: "+hello, "You: Hi ann!")
	// Nothing crossed between the rooms; by now it would have arrived.
	waitMessages(cat, "You: Is anyone in blue?")
	waitMessages(ann, "You: "+hello, "ben: Hi ann!")
	saveScreenshot(t, ann, "chat.png")
}

// statusText is what the page's status bar says ("" when hidden).
const statusText = `document.querySelector('#status').hidden ? '' : document.querySelector('#status').textContent`

// TestCallStates: the states a person must be told about. Carol has no camera or microphone
// (Chromium without its fake devices, on a machine without real ones): she joins all the same,
// receive-only, and is told so. The room holds two: bob, third, is told the room is full. When
// the server goes down, those in the call are told before it ends.
func TestCallStates(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := startServer(t, nil, "-http", "127.0.0.1:0", "-udp", "127.0.0.1:0", "-loopback-candidates",
		"-max-participants", "2", "-drain-grace", "3s")
	room := roomName("states")
	alice := joinAll(t, browserSpec{name: "alice", url: srv.URL(room, "alice")})[0]
	carol := openBrowsers(t, browserSpec{name: "carol", url: srv.URL(room, "carol"),
		flags: map[string]any{"use-fake-device-for-media-stream": false}})[0]

	var s snapshot
	err := eventually(joinTimeout, poll, func() error {
		var err error
		if s, err = carol.snapshot(); err != nil {
			return err
		}
		if s.State != "joined" {
			return fmt.Errorf("carol's state is %q, want joined", s.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Outbound) != 0 {
		t.Fatalf("carol, without devices, sends %d streams", len(s.Outbound))
	}
	status, err := eval[string](carol, statusText)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "joined without") {
		t.Errorf("carol's status says %q; want it to say she joined without camera and microphone", status)
	}
	t.Logf("carol's status: %q", status)
	c := &member{browser: carol, name: "carol", id: s.ParticipantID}
	// Carol sees and hears alice; alice shows carol's tile without a picture.
	if _, err := waitInCall(carol, "carol", map[string]string{alice.id: "alice"}); err != nil {
		t.Fatal(err)
	}
	err = alice.waitFor("alice shows no tile for carol, without video",
		fmt.Sprintf(`document.querySelector('.tile[data-participant-id=%q]')?.classList.contains('no-video') === true`, c.id))
	if err != nil {
		t.Fatal(err)
	}

	bob := openBrowsers(t, browserSpec{name: "bob", url: srv.URL(room, "bob")})[0]
	err = bob.waitFor("bob is not told the room is full",
		`window.sfuClient?.state === 'failed' && !document.querySelector('#left').hidden && document.querySelector('#left-title').textContent === 'This room is full'`)
	if err != nil {
		t.Fatal(err)
	}

	// The server goes down: its drain grace is 3 s.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*browser{alice.browser, carol} {
		if err := m.waitFor("not told that the server goes down", statusText+`.includes('going down')`); err != nil {
			t.Fatal(err)
		}
	}
	// After the grace the server closes the calls: the pages try to come back.
	err = alice.waitFor("alice does not try to reconnect", `window.sfuClient.state === 'reconnecting' && `+statusText+`.includes('Reconnecting')`)
	if err != nil {
		t.Fatal(err)
	}
}
