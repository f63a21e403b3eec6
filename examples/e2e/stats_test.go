package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// snapshotJS reads what one page shows and receives, in one go: the client's state, the camera
// tiles (who is shown, under which name, muted or not, how bright the picture is), the tiles of
// shared screens, and the RTP streams of getStats(). Each inbound stream is given the participant
// whose tile plays it ("owner"): the tile's stream holds the receiver tracks that getStats names
// in trackIdentifier. A stream that a screen's tile plays is owned by "<id>/screen"; a stream no
// tile plays has no owner.
//
// The brightness (mean of R, G and B, 0 to 255) is the video element's current frame drawn
// small on a canvas: a disabled camera sends black frames, which decode as well as any other.
// It is -1 when the element has no frame.
const snapshotJS = `(async (withPictures) => {
  const c = window.sfuClient;
  const owners = new Map();
  const tiles = [];
  const screens = [];
  const canvas = document.createElement('canvas');
  canvas.width = 32;
  canvas.height = 24;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const brightness = (video) => {
    if (!withPictures || !video || video.videoWidth === 0) return -1;
    g.drawImage(video, 0, 0, canvas.width, canvas.height);
    const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < px.length; i += 4) sum += px[i] + px[i + 1] + px[i + 2];
    return sum / (3 * canvas.width * canvas.height);
  };
  for (const tile of document.querySelectorAll('#grid .tile')) {
    const local = tile.dataset.local === 'true';
    const video = tile.querySelector('video');
    const stream = video?.srcObject;
    const screen = tile.dataset.source === 'screen';
    const owner = tile.dataset.participantId + (screen ? '/screen' : '');
    if (!local) for (const track of stream?.getTracks() ?? []) owners.set(track.id, owner);
    if (screen) {
      const box = tile.getBoundingClientRect();
      screens.push({
        id: tile.dataset.participantId ?? '', trackId: tile.dataset.trackId ?? '',
        name: tile.querySelector('.name')?.textContent ?? '', width: box.width, height: box.height,
      });
      continue;
    }
    tiles.push({
      id: tile.dataset.participantId ?? '',
      name: tile.querySelector('.name')?.textContent ?? '',
      local,
      audioMuted: tile.classList.contains('audio-muted'),
      videoMuted: tile.classList.contains('video-muted'),
      brightness: brightness(video),
    });
  }
  const snap = {state: c.state, participantId: c.participantId ?? '', tiles, screens, inbound: [], outbound: []};
  if (c.pc) {
    const report = await c.pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') snap.inbound.push({
        id: s.id, kind: s.kind, ssrc: s.ssrc, owner: owners.get(s.trackIdentifier) ?? '',
        timestamp: s.timestamp, packetsReceived: s.packetsReceived ?? 0,
        packetsLost: s.packetsLost ?? 0, nackCount: s.nackCount ?? 0,
        retransmittedPacketsReceived: s.retransmittedPacketsReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0,
        frameHeight: s.frameHeight ?? 0, totalAudioEnergy: s.totalAudioEnergy ?? 0,
      });
      if (s.type === 'outbound-rtp') snap.outbound.push({
        id: s.id, kind: s.kind, ssrc: s.ssrc, timestamp: s.timestamp,
        packetsSent: s.packetsSent ?? 0, nackCount: s.nackCount ?? 0,
        retransmittedPacketsSent: s.retransmittedPacketsSent ?? 0,
        framesEncoded: s.framesEncoded ?? 0, qualityLimitationReason: s.qualityLimitationReason ?? '',
        frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
      });
    });
  }
  return JSON.stringify(snap);
})(%v)`

// snapshot is what snapshotJS returns.
type snapshot struct {
	State         string      `json:"state"`
	ParticipantID string      `json:"participantId"`
	Tiles         []tile      `json:"tiles"`
	Screens       []screen    `json:"screens"`
	Inbound       []rtpStream `json:"inbound"`
	Outbound      []rtpStream `json:"outbound"`
}

type tile struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Local      bool   `json:"local"`
	AudioMuted bool   `json:"audioMuted"`
	VideoMuted bool   `json:"videoMuted"`
	// Brightness is the mean of R, G and B of the picture shown, 0 to 255; -1 for none.
	Brightness float64 `json:"brightness"`
}

// screen is the tile of a shared screen: whose, which track, its name and its size in CSS
// pixels.
type screen struct {
	ID      string  `json:"id"`
	TrackID string  `json:"trackId"`
	Name    string  `json:"name"`
	Width   float64 `json:"width"`
	Height  float64 `json:"height"`
}

// rtpStream is an inbound-rtp or outbound-rtp entry of getStats, with the fields the tests read.
type rtpStream struct {
	ID                           string  `json:"id"`
	Kind                         string  `json:"kind"`
	SSRC                         uint32  `json:"ssrc"`
	Owner                        string  `json:"owner"`
	Timestamp                    float64 `json:"timestamp"` // ms
	PacketsReceived              int64   `json:"packetsReceived"`
	PacketsLost                  int64   `json:"packetsLost"`
	NackCount                    int64   `json:"nackCount"`
	RetransmittedPacketsReceived int64   `json:"retransmittedPacketsReceived"`
	FramesDecoded                int64   `json:"framesDecoded"`
	FrameWidth                   int     `json:"frameWidth"`
	FrameHeight                  int     `json:"frameHeight"`
	PacketsSent                  int64   `json:"packetsSent"`
	RetransmittedPacketsSent     int64   `json:"retransmittedPacketsSent"`
	FramesEncoded                int64   `json:"framesEncoded"`
	TotalAudioEnergy             float64 `json:"totalAudioEnergy"`
	QualityLimitationReason      string  `json:"qualityLimitationReason"`
}

// snapshot reads the page's state, tiles and stats; the tiles' brightness is left out (-1).
func (b *browser) snapshot() (snapshot, error) { return b.snapshotWith(false) }

// snapshotWith reads the page's state, tiles and stats, and the brightness of each tile's
// picture if withPictures.
func (b *browser) snapshotWith(withPictures bool) (snapshot, error) {
	var s snapshot
	raw, err := eval[string](b, fmt.Sprintf(snapshotJS, withPictures))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, fmt.Errorf("%s: decode snapshot: %w", b.name, err)
	}
	return s, nil
}

// remoteTiles maps the remote tiles' participant ids to their names.
func (s snapshot) remoteTiles() map[string]string {
	m := make(map[string]string)
	for _, t := range s.Tiles {
		if !t.Local {
			m[t.ID] = t.Name
		}
	}
	return m
}

func (s snapshot) tile(id string) (tile, bool) {
	for _, t := range s.Tiles {
		if t.ID == id {
			return t, true
		}
	}
	return tile{}, false
}

func (s snapshot) localTile() (tile, bool) {
	for _, t := range s.Tiles {
		if t.Local {
			return t, true
		}
	}
	return tile{}, false
}

// decodedVideo maps the owners of the inbound video streams that have decoded frames to how
// many streams each owns; streams no tile plays count under "".
func (s snapshot) decodedVideo() map[string]int {
	m := make(map[string]int)
	for _, in := range s.Inbound {
		if in.Kind == "video" && in.FramesDecoded > 0 {
			m[in.Owner]++
		}
	}
	return m
}

// flow is what a page received during a measured interval.
type flow struct {
	seconds float64
	// fps is the frame rate decoded from each owner's video; audioPPS each owner's audio
	// packets per second, audioEnergy the energy of the sound played (getStats'
	// totalAudioEnergy, 0 for silence). Only streams that received something are in them.
	fps, audioPPS, audioEnergy map[string]float64
	// sentFPS is the frame rate the page's own camera was encoded at (its fastest simulcast
	// layer), sentSize its size at the end (its largest layer), and limit why the browser held
	// its quality back ("cpu", "bandwidth"), if it did.
	sentFPS         float64
	sentSize, limit string
	// videoStreams and audioStreams count the inbound streams that received during the
	// interval, whoever owns them: what the page really plays.
	videoStreams, audioStreams int
	// Deltas over the interval, summed over inbound video streams.
	nacks, retransmitted, packets, lost int64
	// Deltas of the page's own outbound video: NACKs it got from the server, and packets it
	// resent for them.
	outNacks, outRetransmitted int64
	// size is the frame size of each owner's video at the end.
	size map[string]string
}

// measure compares two snapshots of one page taken some seconds apart.
func measure(before, after snapshot) flow {
	f := flow{fps: map[string]float64{}, audioPPS: map[string]float64{}, audioEnergy: map[string]float64{},
		size: map[string]string{}}
	old := make(map[string]rtpStream)
	for _, s := range before.Inbound {
		old[s.ID] = s
	}
	for _, s := range after.Inbound {
		o, ok := old[s.ID]
		if !ok {
			continue
		}
		secs := (s.Timestamp - o.Timestamp) / 1000
		if secs <= 0 {
			continue
		}
		f.seconds = max(f.seconds, secs)
		switch s.Kind {
		case "video":
			frames := s.FramesDecoded - o.FramesDecoded
			if frames <= 0 {
				continue
			}
			f.videoStreams++
			f.fps[s.Owner] += float64(frames) / secs
			f.size[s.Owner] = fmt.Sprintf("%dx%d", s.FrameWidth, s.FrameHeight)
			f.nacks += s.NackCount - o.NackCount
			f.retransmitted += s.RetransmittedPacketsReceived - o.RetransmittedPacketsReceived
			f.packets += s.PacketsReceived - o.PacketsReceived
			f.lost += s.PacketsLost - o.PacketsLost
		case "audio":
			packets := s.PacketsReceived - o.PacketsReceived
			if packets <= 0 {
				continue
			}
			f.audioStreams++
			f.audioPPS[s.Owner] += float64(packets) / secs
			f.audioEnergy[s.Owner] += s.TotalAudioEnergy - o.TotalAudioEnergy
		}
	}
	oldOut := make(map[string]rtpStream)
	for _, s := range before.Outbound {
		oldOut[s.ID] = s
	}
	largest := 0
	for _, s := range after.Outbound {
		if o, ok := oldOut[s.ID]; ok && s.Kind == "video" {
			if secs := (s.Timestamp - o.Timestamp) / 1000; secs > 0 {
				f.sentFPS = max(f.sentFPS, float64(s.FramesEncoded-o.FramesEncoded)/secs)
			}
			if s.FrameWidth > largest {
				largest = s.FrameWidth
				f.sentSize = fmt.Sprintf("%dx%d", s.FrameWidth, s.FrameHeight)
			}
			if s.QualityLimitationReason != "none" {
				f.limit = s.QualityLimitationReason
			}
			f.outNacks += s.NackCount - o.NackCount
			f.outRetransmitted += s.RetransmittedPacketsSent - o.RetransmittedPacketsSent
		}
	}
	return f
}

func (f flow) String() string {
	var parts []string
	for _, owner := range slices.Sorted(maps.Keys(f.fps)) {
		parts = append(parts, fmt.Sprintf("video of %q %.1f fps %s", owner, f.fps[owner], f.size[owner]))
	}
	for _, owner := range slices.Sorted(maps.Keys(f.audioPPS)) {
		parts = append(parts, fmt.Sprintf("audio of %q %.0f packets/s energy %.3g", owner, f.audioPPS[owner],
			f.audioEnergy[owner]))
	}
	sent := fmt.Sprintf("own camera sent at %.1f fps %s", f.sentFPS, f.sentSize)
	if f.limit != "" {
		sent += " (limited by " + f.limit + ")"
	}
	parts = append(parts, sent)
	return fmt.Sprintf("over %.1f s: %s", f.seconds, strings.Join(parts, ", "))
}

// measureAll measures what each page receives over the same interval of about d. Waiting for the
// interval is the measurement, not a poll.
func measureAll(d time.Duration, browsers ...*browser) ([]flow, error) {
	before, err := snapshotAll(browsers)
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	after, err := snapshotAll(browsers)
	if err != nil {
		return nil, err
	}
	flows := make([]flow, len(browsers))
	for i := range browsers {
		flows[i] = measure(before[i], after[i])
	}
	return flows, nil
}

// measureUntil measures the browsers over windows of about d until check passes for one
// window, and returns that window's flows; or, after timeout, the last window's flows and
// check's error. Each failed window is logged.
func measureUntil(t *testing.T, timeout, d time.Duration, browsers []*browser, check func([]flow) error) ([]flow, error) {
	t.Helper()
	var flows []flow
	window := 0
	err := eventually(timeout, 0, func() error {
		window++
		var err error
		if flows, err = measureAll(d, browsers...); err != nil {
			return err
		}
		if err := check(flows); err != nil {
			t.Logf("window %d: %v", window, err)
			return err
		}
		return nil
	})
	return flows, err
}

// snapshotAll takes every page's snapshot at about the same time.
func snapshotAll(browsers []*browser) ([]snapshot, error) {
	snaps := make([]snapshot, len(browsers))
	errs := make([]error, len(browsers))
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i], errs[i] = b.snapshot()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return snaps, nil
}
