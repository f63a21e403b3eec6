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

// UpTrack is a track that a participant publishes. A simulcast track arrives as up to maxLayers
// streams (layers) of one m-line, each with its own RID, SSRC and sequence numbers; any other
// track is one layer. One reader goroutine per layer takes each packet from the publisher's
// PeerConnection, stores it once in the layer's packet cache, and hands its sequence number to
// every subscriber's DownTrack that forwards that layer or is switching to it. Nothing on that
// path blocks: a subscriber that cannot keep up loses packets, not the publisher's time.
type UpTrack struct {
	id        string
	publisher *Participant
	receiver  *webrtc.RTPReceiver
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	codecKind codec.Kind
	source    Source
	simulcast bool // the m-line was negotiated with RIDs
	infos     []LayerInfo
	log       *slog.Logger
	stats     trackCounters // plis: keyframe requests sent, nacks: NACKs sent; what arrived is in the layers (received)

	audioLevelID uint8      // the publisher's id of the audio level extension, or 0
	level        levelMeter // loudness of the packets since the last speaker tick

	layers  [maxLayers]atomic.Pointer[layer] // by quality, lowest first; nil until the layer arrives
	running atomic.Int32                     // layers whose reader runs: the track ends with the last
	downs   atomic.Pointer[[]*DownTrack]     // copy on write; read once per packet without a lock
	mu      sync.Mutex                       // serialises changes to downs and layers

	alloc upAllocation // owned by the server's tick (allocation.go)
}

func newUpTrack(p *Participant, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, info TrackInfo) *UpTrack {
	up := &UpTrack{
		id:        remote.ID(),
		publisher: p,
		receiver:  receiver,
		kind:      remote.Kind(),
		codec:     remote.Codec(),
		codecKind: codec.KindOf(remote.Codec().MimeType),
		source:    info.Source,
		simulcast: remote.RID() != "",
		log:       p.log.With("track", remote.ID(), "kind", remote.Kind().String(), "codec", remote.Codec().MimeType),
	}
	if up.id == "" {
		up.id = remote.Kind().String()
	}
	if up.simulcast {
		var rids []string
		for _, t := range receiver.Tracks() {
			rids = append(rids, t.RID())
		}
		up.infos = orderLayers(rids, info.Layers)
	}
	if up.kind == webrtc.RTPCodecTypeAudio {
		for _, e := range receiver.GetParameters().HeaderExtensions {
			if e.URI == audioLevelURI {
				up.audioLevelID = uint8(e.ID)
			}
		}
	}
	up.downs.Store(&[]*DownTrack{})
	return up
}

// ID is the publisher's track id.
func (up *UpTrack) ID() string { return up.id }

// Kind is audio or video.
func (up *UpTrack) Kind() webrtc.RTPCodecType { return up.kind }

// Publisher is the participant that publishes the track.
func (up *UpTrack) Publisher() *Participant { return up.publisher }

// Source is what the publisher said the track is (camera, screen, ...), or "".
func (up *UpTrack) Source() Source { return up.source }

// describe is what subscribers are told of the track.
func (up *UpTrack) describe() TrackDescription {
	return TrackDescription{Publisher: up.publisher.id, TrackID: up.id, Kind: up.kind, Source: up.source, Simulcast: up.simulcast}
}

// addLayer makes the stream remote a layer of the track, and returns it. A stream whose RID was
// not negotiated, or a second stream for a layer, returns nil.
func (up *UpTrack) addLayer(remote *webrtc.TrackRemote) *layer {
	idx := 0
	if up.simulcast {
		idx = layerIndex(up.infos, remote.RID())
		if idx < 0 {
			return nil
		}
	}
	size := audioCacheSize
	if up.kind == webrtc.RTPCodecTypeVideo {
		size = videoCacheSize
	}
	l := &layer{index: idx, rid: remote.RID(), remote: remote, cache: packetcache.New(size)}
	if up.simulcast {
		l.info = up.infos[idx]
	}
	l.keyframes = newKeyframeRequester(up.publisher.server.cfg.keyframeEvery, func() { up.sendPLI(l) })
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.layers[idx].Load() != nil {
		l.keyframes.close()
		return nil
	}
	up.layers[idx].Store(l)
	return l
}

// received is what arrived of all the track's layers: packets, and payload bytes.
func (up *UpTrack) received() (packets, bytes uint64) {
	for i := range up.layers {
		if l := up.layers[i].Load(); l != nil {
			packets += l.packets.Load()
			bytes += l.bytes.Load()
		}
	}
	return packets, bytes
}

// layer returns layer i, or nil.
func (up *UpTrack) layer(i int) *layer {
	if i < 0 || i >= maxLayers {
		return nil
	}
	return up.layers[i].Load()
}

// lowestLayer is the index of the lowest layer that has arrived, or 0.
func (up *UpTrack) lowestLayer() int {
	for i := range up.layers {
		if up.layers[i].Load() != nil {
			return i
		}
	}
	return 0
}

// readLoop forwards a layer's packets until its stream ends.
func (up *UpTrack) readLoop(l *layer) {
	buf := make([]byte, packetcache.MaxPacket+100)
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			return
		}
		up.forward(l, buf[:n])
	}
}

// forward caches one packet of layer l and hands it to every subscriber. It is the whole
// per-packet work of the publisher's side and allocates nothing.
func (up *UpTrack) forward(l *layer, pkt []byte) {
	h, ok := parseRTP(pkt)
	if !ok {
		return
	}
	if l.duplicate(h.seq) {
		return
	}
	now := nanotime()
	l.recv.arrived(h.seq, h.timestamp, now, up.codec.ClockRate)
	if l.remote != nil && up.kind == webrtc.RTPCodecTypeVideo {
		if seqs := l.nack.arrived(h.seq, now); len(seqs) > 0 {
			up.sendNACK(l, seqs)
		}
	}
	if h.payloadStart == h.payloadEnd { // padding only (a bandwidth probe)
		return
	}
	payload := pkt[h.payloadStart:h.payloadEnd]
	meta := packetcache.Meta{Seq: h.seq, Timestamp: h.timestamp, Marker: h.marker}
	if up.kind == webrtc.RTPCodecTypeVideo && up.codecKind.KeyframeStart(payload) {
		meta.Keyframe = true
		l.keyframes.keyframeArrived()
	}
	if up.audioLevelID != 0 {
		if v, ok := headerExtension(pkt, &h, up.audioLevelID); ok && len(v) >= 1 {
			up.level.add(v[0])
		}
	}
	if !l.cache.Store(meta, payload) {
		return
	}
	l.packets.Add(1)
	l.bytes.Add(uint64(len(payload)))
	idx := int8(l.index)
	for _, d := range *up.downs.Load() {
		d.enqueue(idx, meta)
	}
}

// duplicate reports whether packet seq of l is one the subscribers have had already, or older
// than the cache holds. Chrome pads its uplink, when it probes for bandwidth, with RTX copies
// of packets it sent a moment ago, and a retransmission may cross its original: forwarded, such
// a copy costs every subscriber's downlink, and their browsers discard it (an SRTP replay)
// before it reaches their transport-wide feedback, which then reports it lost. Counted as
// losses, those copies made the downlink estimate collapse and pause the video they were
// copies of. A packet older than the cache is too late to be of use, and storing it would
// evict a newer one. Neither counts as an arrival either: a copy sent late would read as jitter
// in the receiver reports, and as a packet received would hide a loss. Only the layer's reader
// calls it, before it records the packet.
func (l *layer) duplicate(seq uint16) bool {
	if _, ok := l.cache.Meta(seq); ok {
		return true
	}
	if !l.recv.started {
		return false
	}
	behind := l.recv.maxSeq - seq // a newer packet is "behind" by 0x8000 or more
	return behind < 0x8000 && int(behind) >= l.cache.Len()
}

// readRTCP reads a layer's RTCP: its sender reports, whose time the receiver reports echo
// (reports.go).
func (up *UpTrack) readRTCP(l *layer) {
	buf := make([]byte, 1500)
	ssrc := uint32(l.remote.SSRC())
	for {
		var n int
		var err error
		if l.rid != "" {
			n, _, err = up.receiver.ReadSimulcast(buf, l.rid)
		} else {
			n, _, err = up.receiver.Read(buf)
		}
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				l.recv.senderReport(sr.NTPTime, nanotime())
			}
		}
	}
}

// sendPLI asks the publisher for a keyframe of layer l. Only the layer's keyframeRequester calls
// it, at most once per interval.
func (up *UpTrack) sendPLI(l *layer) {
	err := up.publisher.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(l.remote.SSRC())}})
	if err != nil {
		up.log.Debug("keyframe request not sent", "err", err)
		return
	}
	up.stats.plis.Add(1)
}

// requestKeyframe asks for a keyframe of layer i, if it exists.
func (up *UpTrack) requestKeyframe(i int) {
	if l := up.layer(i); l != nil {
		l.keyframes.request()
	}
}

// close stops the keyframe requests of every layer.
func (up *UpTrack) close() {
	for i := range up.layers {
		if l := up.layers[i].Load(); l != nil {
			l.keyframes.close()
		}
	}
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
