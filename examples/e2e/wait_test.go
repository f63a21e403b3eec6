package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// eventually checks cond every interval until it returns nil, and returns nil; or, when timeout
// has passed, cond's last error. An interval of 0 checks again at once, for a cond that takes
// its time itself (a measurement over an interval).
func eventually(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	var tick <-chan time.Time
	if interval > 0 {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		if tick != nil {
			<-tick
		}
	}
}

// Timeouts of the waits. Joining includes getUserMedia, ICE and DTLS and a renegotiation per
// member; everything runs on two cores beside the other browsers.
const (
	joinTimeout = 20 * time.Second
	poll        = 100 * time.Millisecond
)

// measureFor is how long the tests measure frame rates: about 60 frames at 20 fps.
const measureFor = 3 * time.Second

// playTimeout bounds how long the pages may take to show that they play: several measured
// windows, so that a moment when the machine's two cores are busy elsewhere (the other
// packages' tests run beside this one) does not fail a test, and video that does not play does.
const playTimeout = 20 * time.Second

// Frame rates. Chromium's fake camera captures 1280x720 (what the web client asks for) at 20 fps. A viewer must decode a
// publisher's video at minFPS or more: a frozen or stuttering picture is far below. But the
// machines this runs on have two cores, shared with the other packages' tests, and a browser
// short of CPU sends fewer frames itself; that is not the server's doing. So when the
// publisher's browser sent less in the same interval, 80% of what it sent will do, and never
// less than floorFPS.
const (
	minFPS   = 15
	floorFPS = 10
)

// wantFPS is the least frame rate a viewer must decode of a publisher that sent at sent fps
// (0: unknown).
func wantFPS(sent float64) float64 {
	if sent <= 0 {
		return minFPS
	}
	return max(floorFPS, min(minFPS, 0.8*sent))
}

// waitJoined waits until the page has joined its room and returns its snapshot, which has its
// participant id.
func waitJoined(b *browser) (snapshot, error) {
	var s snapshot
	err := eventually(joinTimeout, poll, func() error {
		var err error
		if s, err = b.snapshot(); err != nil {
			return err
		}
		if s.State != "joined" || s.ParticipantID == "" {
			return fmt.Errorf("%s: state %q, participant id %q", b.name, s.State, s.ParticipantID)
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	return s, b.preferFrameRate()
}

// waitInCall waits until the page is joined as name and shows exactly the remote participants
// of remotes (id -> name) by name, and decodes video from each of them and from nobody else
// shown.
func waitInCall(b *browser, name string, remotes map[string]string) (snapshot, error) {
	var s snapshot
	err := eventually(joinTimeout, poll, func() error {
		var err error
		if s, err = b.snapshot(); err != nil {
			return err
		}
		return inCall(b.name, s, name, remotes)
	})
	return s, err
}

func inCall(who string, s snapshot, name string, remotes map[string]string) error {
	if s.State != "joined" {
		return fmt.Errorf("%s: state %q, want joined", who, s.State)
	}
	if self, ok := s.localTile(); !ok || self.ID != s.ParticipantID || self.Name != name {
		return fmt.Errorf("%s: own tile %+v, want id %q named %q", who, self, s.ParticipantID, name)
	}
	if got := s.remoteTiles(); !maps.Equal(got, remotes) {
		return fmt.Errorf("%s: remote tiles (id: name) %v, want %v", who, got, remotes)
	}
	decoded := s.decodedVideo()
	for id, n := range decoded {
		if id != "" && n != 1 {
			return fmt.Errorf("%s: %d decoding video streams for %s, want 1", who, n, id)
		}
		if _, ok := remotes[id]; !ok && id != "" {
			return fmt.Errorf("%s: decodes video of %s, who is not in the call", who, id)
		}
	}
	for id, name := range remotes {
		if decoded[id] != 1 {
			return fmt.Errorf("%s: no decoded video from %s (%s) yet; decoded per owner: %v",
				who, name, id, decoded)
		}
	}
	return nil
}

// playing checks that a page, over a measured interval, played video at a real frame rate
// (wantFPS of what each publisher sent, from sent: id -> fps) and received audio from exactly
// the participants in want, and from nobody else.
func playing(who string, f flow, sent map[string]float64, want ...string) error {
	var problems []string
	if f.videoStreams != len(want) {
		problems = append(problems, fmt.Sprintf("%d video streams decoding, want %d", f.videoStreams, len(want)))
	}
	if f.audioStreams != len(want) {
		problems = append(problems, fmt.Sprintf("%d audio streams receiving, want %d", f.audioStreams, len(want)))
	}
	for _, id := range want {
		if need := wantFPS(sent[id]); f.fps[id] < need {
			problems = append(problems, fmt.Sprintf("video of %s at %.1f fps, want >= %.1f (it sent %.1f fps)",
				id, f.fps[id], need, sent[id]))
		}
		if f.audioPPS[id] <= 0 {
			problems = append(problems, fmt.Sprintf("no audio packets from %s", id))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.fps)) {
		if !slices.Contains(want, id) {
			problems = append(problems, fmt.Sprintf("decodes video of %q, who should not be there", id))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s (%v)", who, strings.Join(problems, "; "), f)
	}
	return nil
}
