package e2e

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// switchTimeout bounds how long the server may take to move a viewer to another simulcast layer
// after its tile changed size: the page's report (debounced), the server's next allocation, and
// a keyframe of the new layer, on two busy cores.
const switchTimeout = 20 * time.Second

// TestSimulcast: alice publishes her camera in simulcast (three layers, as the fake camera gives
// 1280x720); bob shows her tile small and carol large, and the server must forward each the
// layer that fills the tile: bob a smaller picture than carol, both at a real frame rate. When
// they swap sizes the layers follow. Layers nobody needs are paused at alice's browser
// (dynacast): the upper ones while both show her small, all of them while nobody shows her
// video, and they resume when someone does again.
func TestSimulcast(t *testing.T) {
	chromiumPath(t) // skips (fails in CI) before anything starts, without a browser
	srv := localServer(t)
	room := roomName("simulcast")
	var specs []browserSpec
	for _, name := range []string{"alice", "bob", "carol"} {
		specs = append(specs, browserSpec{name: name, url: srv.URL(room, name)})
	}
	members := joinAll(t, specs...)
	alice, bob, carol := members[0], members[1], members[2]
	waitAllInCall(t, members)
	// Three browsers encoding 1280x720 in simulcast are more than two cores can do at a steady
	// frame rate: only alice's camera is measured, so bob and carol send a sixteenth of the pixels.
	for _, m := range []*member{bob, carol} {
		if err := m.scaleDown(4); err != nil {
			t.Fatal(err)
		}
	}

	layers, err := cameraLayers(alice)
	if err != nil {
		t.Fatal(err)
	}
	if rids := layerRIDs(layers); !slices.Equal(rids, []string{"q", "h", "f"}) {
		t.Fatalf("alice's camera sends the layers %v, want [q h f] (%s)", rids, layersString(layers))
	}
	t.Logf("alice's camera: %s", sentLayers(t, alice))

	ok := t.Run("small and large tile", func(t *testing.T) {
		showTileAt(t, bob, alice, 160, 90)
		showTileAt(t, carol, alice, 1280, 720)
		small, large := waitSmallerFrames(t, alice, bob, carol)
		t.Logf("alice's video is %dpx wide at bob (tile 160x90) and %dpx at carol (tile 1280x720)", small, large)
		checkDecoding(t, alice, bob, carol)
	})
	if !ok {
		return
	}

	ok = t.Run("swap sizes", func(t *testing.T) {
		showTileAt(t, bob, alice, 1280, 720)
		showTileAt(t, carol, alice, 160, 90)
		small, large := waitSmallerFrames(t, alice, carol, bob)
		t.Logf("after the swap, alice's video is %dpx wide at carol (tile 160x90) and %dpx at bob (tile 1280x720)",
			small, large)
		checkDecoding(t, alice, bob, carol)
	})
	if !ok {
		return
	}

	t.Run("dynacast", func(t *testing.T) {
		// Both viewers show alice small: only the lowest layer is needed, the others are paused.
		// (Which layer a large tile gets depends on what alice's uplink carries: a layer that
		// does not flow is replaced by the one below it, which is then needed too.)
		showTileAt(t, bob, alice, 160, 90)
		waitLayersActive(t, alice, map[string]bool{"q": true, "h": false, "f": false})
		// Nobody shows alice's video: every layer is paused.
		for _, viewer := range []*member{bob, carol} {
			setTileHidden(t, viewer, alice, true)
		}
		waitLayersActive(t, alice, map[string]bool{"q": false, "h": false, "f": false})
		// Shown again, it comes back at once: the lowest layer resumes and the viewers decode.
		for _, viewer := range []*member{bob, carol} {
			setTileHidden(t, viewer, alice, false)
		}
		waitLayersActive(t, alice, map[string]bool{"q": true})
		checkDecoding(t, alice, bob, carol)
	})
}

// layer is one encoding of a camera sender, as its RTCRtpSender parameters say.
type layer struct {
	RID    string  `json:"rid"`
	Active bool    `json:"active"`
	Scale  float64 `json:"scale"`
}

// cameraLayers reads the encodings of the page's camera sender.
func cameraLayers(m *member) ([]layer, error) {
	return eval[[]layer](m.browser, `(() => {
  const track = document.querySelector('.tile[data-local="true"] video')?.srcObject?.getVideoTracks()[0];
  const sender = window.sfuClient.pc?.getSenders().find((s) => s.track && s.track === track);
  return (sender?.getParameters().encodings ?? []).map((e) => ({rid: e.rid ?? '', active: e.active, scale: e.scaleResolutionDownBy ?? 1}));
})()`)
}

func layerRIDs(layers []layer) []string {
	var rids []string
	for _, l := range layers {
		rids = append(rids, l.RID)
	}
	return rids
}

func layersString(layers []layer) string {
	var parts []string
	for _, l := range layers {
		state := "paused"
		if l.Active {
			state = "active"
		}
		parts = append(parts, fmt.Sprintf("%s (1/%g) %s", l.RID, l.Scale, state))
	}
	return strings.Join(parts, ", ")
}

// sentLayers describes what the page's browser sends of each layer of its camera, from its
// getStats: each layer's size, frame rate, target bitrate and what limits its quality, and the
// browser's estimate of its uplink.
func sentLayers(t *testing.T, m *member) string {
	t.Helper()
	s, err := eval[string](m.browser, `(async () => {
  const parts = [];
  (await window.sfuClient.pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      parts.push(s.rid + ' ' + (s.active ? 'active' : 'paused') + ' ' + (s.frameWidth ?? 0) + 'x' + (s.frameHeight ?? 0) +
        ' ' + (s.framesPerSecond ?? 0) + ' fps, ' + Math.round((s.targetBitrate ?? 0) / 1000) + ' kb/s target, frames ' +
        s.framesEncoded + (s.qualityLimitationReason !== 'none' ? ', limited by ' + s.qualityLimitationReason : ''));
    }
    if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) {
      parts.push('uplink estimate ' + Math.round(s.availableOutgoingBitrate / 1000) + ' kb/s');
    }
  });
  return parts.sort().join('; ');
})()`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// receivedVideo describes what viewer's browser has received of who's camera, from its
// inbound-rtp stats: the evidence when a picture freezes.
func receivedVideo(t *testing.T, viewer, who *member) string {
	t.Helper()
	s, err := eval[string](viewer.browser, fmt.Sprintf(`(async (id) => {
  const tile = [...document.querySelectorAll('#grid .tile:not([data-local]):not(.screen)')]
    .find((t) => t.dataset.participantId === id);
  const track = tile?.querySelector('video').srcObject?.getVideoTracks()[0];
  if (!track) return 'no video track on the tile';
  let text = 'no inbound-rtp stats';
  (await window.sfuClient.pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp' || s.trackIdentifier !== track.id) return;
    text = 'packets ' + s.packetsReceived + ', frames received ' + s.framesReceived + ', decoded ' + s.framesDecoded +
      ' (keyframes ' + s.keyFramesDecoded + '), last ' + (s.frameWidth ?? 0) + 'x' + (s.frameHeight ?? 0) +
      ', PLIs sent ' + s.pliCount + ', NACKs sent ' + s.nackCount + ', lost ' + s.packetsLost;
  });
  return text;
})(%q)`, who.id))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// viewerTileJS finds the camera tile of participant id on a page, and runs body on it (as tile)
// with the page's own arguments w, h and hidden.
const viewerTileJS = `((id, w, h, hidden) => {
  const tile = [...document.querySelectorAll('#grid .tile:not([data-local]):not(.screen)')]
    .find((t) => t.dataset.participantId === id);
  if (!tile) return false;
  %s
  return true;
})(%q, %d, %d, %v)`

// showTileAt makes viewer show who's camera tile at w x h CSS pixels, on top of everything, as a
// person would by resizing it. The page's device pixel ratio is 1.
func showTileAt(t *testing.T, viewer, who *member, w, h int) {
	t.Helper()
	body := `Object.assign(tile.style, {position: 'fixed', left: '0', top: '0', zIndex: '10', width: w + 'px', height: h + 'px'});`
	found, err := eval[bool](viewer.browser, fmt.Sprintf(viewerTileJS, body, who.id, w, h, false))
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s shows no tile of %s", viewer.name, who.name)
	}
}

// setTileHidden hides who's camera tile on viewer's page (display: none), or shows it again.
func setTileHidden(t *testing.T, viewer, who *member, hidden bool) {
	t.Helper()
	found, err := eval[bool](viewer.browser, fmt.Sprintf(viewerTileJS, `tile.style.display = hidden ? 'none' : '';`,
		who.id, 0, 0, hidden))
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s shows no tile of %s", viewer.name, who.name)
	}
}

// frameWidth is the width of the frames a page last decoded of who's camera, 0 for none.
func frameWidth(s snapshot, who string) int {
	for _, in := range s.Inbound {
		if in.Kind == "video" && in.Owner == who && in.FramesDecoded > 0 {
			return in.FrameWidth
		}
	}
	return 0
}

// waitSmallerFrames waits until small decodes who's video at most half as wide as large does
// (the layers are a factor of two apart), and returns both widths.
func waitSmallerFrames(t *testing.T, who, small, large *member) (int, int) {
	t.Helper()
	var ws, wl int
	start := time.Now()
	err := eventually(switchTimeout, 500*time.Millisecond, func() error {
		snaps, err := snapshotAll([]*browser{small.browser, large.browser})
		if err != nil {
			return err
		}
		ws, wl = frameWidth(snaps[0], who.id), frameWidth(snaps[1], who.id)
		if ws == 0 || wl == 0 || 2*ws > wl {
			return fmt.Errorf("%s decodes %s's video %dpx wide (small tile), %s %dpx (large tile)",
				small.name, who.name, ws, large.name, wl)
		}
		return nil
	})
	if err != nil {
		t.Logf("%s's camera: %s", who.name, sentLayers(t, who))
		for _, v := range []*member{small, large} {
			t.Logf("%s received of %s's video: %s", v.name, who.name, receivedVideo(t, v, who))
		}
		t.Fatal(err)
	}
	t.Logf("the layers followed the tiles within %v", time.Since(start).Round(time.Millisecond))
	return ws, wl
}

// checkDecoding checks that each viewer decodes who's video at a real frame rate, in one measured
// window within playTimeout: a layer switch that the decoder could not follow would freeze it.
func checkDecoding(t *testing.T, who *member, viewers ...*member) {
	t.Helper()
	browsers := browsersOf(append([]*member{who}, viewers...)...)
	flows, err := measureUntil(t, playTimeout, measureFor, browsers, func(flows []flow) error {
		var errs []error
		for i, v := range viewers {
			f := flows[i+1]
			if need := wantFPS(flows[0].sentFPS); f.fps[who.id] < need {
				errs = append(errs, fmt.Errorf("%s decodes %s's video at %.1f fps, want >= %.1f (%s sent %.1f fps)",
					v.name, who.name, f.fps[who.id], need, who.name, flows[0].sentFPS))
			}
		}
		return errors.Join(errs...)
	})
	for i, v := range viewers {
		if i+1 < len(flows) {
			t.Logf("%s receives %v", v.name, flows[i+1])
		}
	}
	if err != nil {
		t.Logf("%s's camera: %s", who.name, sentLayers(t, who))
		for _, v := range viewers {
			t.Logf("%s received of %s's video: %s", v.name, who.name, receivedVideo(t, v, who))
		}
		t.Error(err)
	}
}

// waitLayersActive waits until the camera layers of who are sending (true) or paused (false) as
// want says; layers want does not name may be either.
func waitLayersActive(t *testing.T, who *member, want map[string]bool) {
	t.Helper()
	var layers []layer
	start := time.Now()
	err := eventually(switchTimeout, 250*time.Millisecond, func() error {
		var err error
		if layers, err = cameraLayers(who); err != nil {
			return err
		}
		for _, l := range layers {
			if active, ok := want[l.RID]; ok && l.Active != active {
				return fmt.Errorf("%s's camera layers: %s; want %v", who.name, layersString(layers), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Logf("%s's camera: %s", who.name, sentLayers(t, who))
		t.Fatal(err)
	}
	t.Logf("%s's camera layers %s within %v", who.name, layersString(layers), time.Since(start).Round(time.Millisecond))
}
