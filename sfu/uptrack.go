package sfu

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/codec"
	"github.com/sfu-project/sfu/sfu/packetcache"
)

// Packet cache sizes, in packets: about a second of the highest rate each kind reaches.
const (
	videoCacheSize = 512
	audioCacheSize = 64
)

// UpTrack is a track that a participant publishes. One reader goroutine takes each packet from
// the publisher's PeerConnection, stores it once in the track's packet cache, and hands its
// sequence number to every subscriber's DownTrack. Nothing on that path blocks: a subscriber that
// cannot keep up loses packets, not the publisher's time.
type UpTrack struct {
	id        string
	publisher *Participant
	remote    *webrtc.TrackRemote
	receiver  *webrtc.RTPReceiver
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	codecKind codec.Kind
	cache     *packetcache.Cache
	keyframes *keyframeRequester
	log       *slog.Logger
	stats     trackCounters // packets, bytes in; plis = keyframe requests sent

	audioLevelID uint8      // the publisher's id of the audio level extension, or 0
	level        levelMeter // loudness of the packets since the last speaker tick

	downs atomic.Pointer[[]*DownTrack] // copy on write; read once per packet without a lock
	mu    sync.Mutex                   // serialises changes to downs
}

func newUpTrack(p *Participant, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) *UpTrack {
	up := &UpTrack{
		id:        remote.ID(),
		publisher: p,
		remote:    remote,
		receiver:  receiver,
		kind:      remote.Kind(),
		codec:     remote.Codec(),
		codecKind: codec.KindOf(remote.Codec().MimeType),
		log:       p.log.With("track", remote.ID(), "kind", remote.Kind().String(), "codec", remote.Codec().MimeType),
	}
	if up.id == "" {
		up.id = remote.Kind().String()
	}
	size := audioCacheSize
	if up.kind == webrtc.RTPCodecTypeVideo {
		size = videoCacheSize
	}
	up.cache = packetcache.New(size)
	if up.kind == webrtc.RTPCodecTypeAudio {
		for _, e := range receiver.GetParameters().HeaderExtensions {
			if e.URI == audioLevelURI {
				up.audioLevelID = uint8(e.ID)
			}
		}
	}
	up.keyframes = newKeyframeRequester(p.server.cfg.keyframeEvery, up.sendPLI)
	up.downs.Store(&[]*DownTrack{})
	return up
}

// ID is the publisher's track id.
func (up *UpTrack) ID() string { return up.id }

// Kind is audio or video.
func (up *UpTrack) Kind() webrtc.RTPCodecType { return up.kind }

// Publisher is the participant that publishes the track.
func (up *UpTrack) Publisher() *Participant { return up.publisher }

// readLoop forwards packets until the publisher's track ends.
func (up *UpTrack) readLoop() {
	buf := make([]byte, packetcache.MaxPacket+100)
	for {
		n, _, err := up.remote.Read(buf)
		if err != nil {
			return
		}
		up.forward(buf[:n])
	}
}

// forward caches one packet and hands it to every subscriber. It is the whole per-packet work of
// the publisher's side and allocates nothing.
func (up *UpTrack) forward(pkt []byte) {
	h, ok := parseRTP(pkt)
	if !ok || h.payloadStart == h.payloadEnd { // malformed, or padding only (a bandwidth probe)
		return
	}
	payload := pkt[h.payloadStart:h.payloadEnd]
	meta := packetcache.Meta{Seq: h.seq, Timestamp: h.timestamp, Marker: h.marker}
	if up.kind == webrtc.RTPCodecTypeVideo && up.codecKind.KeyframeStart(payload) {
		meta.Keyframe = true
		up.keyframes.keyframeArrived()
	}
	if up.audioLevelID != 0 {
		if v, ok := headerExtension(pkt, &h, up.audioLevelID); ok && len(v) >= 1 {
			up.level.add(v[0])
		}
	}
	if !up.cache.Store(meta, payload) {
		return
	}
	up.stats.packets.Add(1)
	up.stats.bytes.Add(uint64(len(payload)))
	for _, d := range *up.downs.Load() {
		d.enqueue(meta)
	}
}

// readRTCP reads the publisher's RTCP (sender reports) so that the receiver-report interceptor
// sees it; without a reader it would not run.
func (up *UpTrack) readRTCP() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := up.receiver.Read(buf); err != nil {
			return
		}
	}
}

// sendPLI asks the publisher for a keyframe. Only keyframeRequester calls it, at most once per
// interval.
func (up *UpTrack) sendPLI() {
	err := up.publisher.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(up.remote.SSRC())}})
	if err != nil {
		up.log.Debug("keyframe request not sent", "err", err)
		return
	}
	up.stats.plis.Add(1)
}

func (up *UpTrack) addDown(d *DownTrack) {
	up.mu.Lock()
	old := *up.downs.Load()
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	up.downs.Store(&next)
	up.mu.Unlock()
}

func (up *UpTrack) removeDown(d *DownTrack) {
	up.mu.Lock()
	old := *up.downs.Load()
	next := make([]*DownTrack, 0, len(old))
	for _, o := range old {
		if o != d {
			next = append(next, o)
		}
	}
	up.downs.Store(&next)
	up.mu.Unlock()
}

// subscribers returns the current DownTracks.
func (up *UpTrack) subscribers() []*DownTrack { return *up.downs.Load() }
