package sfu

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/codec"
	"github.com/sfu-project/sfu/sfu/packetcache"
)

// DownTrack is one subscriber's copy of an UpTrack. It is the webrtc.TrackLocal added to the
// subscriber's PeerConnection, and it owns a writer goroutine with a bounded queue of packet
// references. The writer copies each packet out of the publisher's cache, gives it this
// subscriber's SSRC, payload type, sequence number and timestamp, and hands it to Pion to encrypt
// and send. Header extensions are not forwarded: their ids belong to the publisher's session.
//
// Of a simulcast track it forwards one layer, the target that allocation chose (-1: none, the
// track is paused). A new target takes over at its first keyframe, which the DownTrack asks for;
// until then the current layer goes on. Sequence numbers and timestamps continue across the
// switch, and so do VP8 picture ids and TL0PICIDX, so the subscriber sees one stream.
//
// When the queue is full the packet is dropped; video then skips to the next keyframe (which it
// asks for) so that the subscriber sees a clean cut instead of broken frames, and the outgoing
// sequence numbers close the gap, so the drop does not look like loss to the subscriber.
type DownTrack struct {
	up         *UpTrack
	subscriber *Participant
	queue      chan queued
	overflow   atomic.Bool
	bound      atomic.Pointer[binding]
	rtt        atomic.Int64 // nanoseconds, from the subscriber's receiver reports
	target     atomic.Int32 // the layer to forward, -1 for none; set by allocation
	current    atomic.Int32 // the layer being forwarded, -1 for none; set by the writer
	waiting    atomic.Bool  // the writer skips video until a keyframe (after a drop); set by the writer
	done       chan struct{}
	closeOnce  sync.Once
	log        *slog.Logger

	sender *webrtc.RTPSender // set and read on the subscriber's negotiation goroutine

	stats trackCounters // dropped counts packets not sent because the subscriber could not keep up
	clock senderClock   // the newest packet's timestamp and send time, for sender reports

	sr senderReport // owned by the tick (reports.go)

	// Guarded by the room's lock.
	settings    TrackSettings
	hasSettings bool
	alloc       downAllocation

	// Owned by the writer goroutine.
	buf         []byte
	hdr         rtp.Header
	resendHdr   rtp.Header // a second header, so a resend neither disturbs hdr nor allocates
	seq         sequencer
	video       bool
	rewriteVP8  bool // simulcast VP8: picture ids are rewritten to run on across layers
	started     bool
	switched    bool // the next packet is the first of a new layer
	resync      bool
	seqOffset   uint16
	tsOffset    uint32
	highestIn   uint16
	highestTS   uint32 // outgoing timestamp of the packet with sequence number highestIn
	lastFrameAt int64  // nanotime when the last frame (marker) was sent
	resumeIn    uint16 // packets older than this one were skipped and must stay skipped
	rtxSeq      uint16
	picOffset   uint16
	tl0Offset   uint8
	lastPic     uint16
	lastTL0     uint8
}

// queued is one entry of a writer's queue: a packet of a layer's cache to forward, or one already
// sent to resend.
type queued struct {
	seq   uint16 // the cache's sequence number, or for a resend the subscriber's
	layer int8
	flags uint8
}

const (
	flagKeyframe uint8 = 1 << iota
	flagResend
)

// binding is what Pion negotiated for this track on the subscriber's connection.
type binding struct {
	stream  webrtc.TrackLocalWriter
	pt      uint8
	ssrc    uint32
	rtxPT   uint8
	rtxSSRC uint32
}

func newDownTrack(up *UpTrack, sub *Participant, queueLen int) *DownTrack {
	d := &DownTrack{
		up:         up,
		subscriber: sub,
		queue:      make(chan queued, queueLen),
		done:       make(chan struct{}),
		buf:        make([]byte, packetcache.MaxPacket+2),
		rewriteVP8: up.simulcast && up.codecKind == codec.VP8,
		rtxSeq:     uint16(rand.Uint32()), // like every stream's first sequence number, random (RFC 3550)
		seq:        newSequencer(sequencerLength(up.kind)),
		video:      up.kind == webrtc.RTPCodecTypeVideo,
		log:        sub.log.With("track", up.id, "publisher", up.publisher.id),
	}
	d.current.Store(-1)
	// Start with the lowest layer there is: it comes fastest, and allocation moves the track to
	// the layer it should have within a tick.
	d.target.Store(int32(up.lowestLayer()))
	d.hdr.Version = 2
	return d
}

// ID, RID, StreamID and Kind make DownTrack a webrtc.TrackLocal. The stream id is the publisher's
// participant id: that is how a client ties a remote track to a member of the room.
func (d *DownTrack) ID() string                { return d.up.id }
func (d *DownTrack) RID() string               { return "" }
func (d *DownTrack) StreamID() string          { return d.up.publisher.id }
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.up.kind }

// Bind is called by Pion once the subscriber's connection has negotiated the track.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, ok := matchCodec(d.up.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, ErrNoCodec
	}
	b := &binding{stream: ctx.WriteStream(), pt: uint8(c.PayloadType), ssrc: uint32(ctx.SSRC())}
	if rtx := ctx.SSRCRetransmission(); rtx != 0 {
		if pt, ok := rtxPayloadType(c.PayloadType, ctx.CodecParameters()); ok {
			b.rtxPT, b.rtxSSRC = pt, uint32(rtx)
		}
	}
	d.bound.Store(b)
	if d.video {
		d.up.requestKeyframe(int(d.target.Load())) // a new subscriber needs a keyframe to start
	}
	return c, nil
}

// Unbind is called by Pion when the track is removed from the subscriber's connection.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

// setTarget makes layer i (-1: none) the one to forward, and asks for the keyframe that a switch
// to it waits for.
func (d *DownTrack) setTarget(i int) {
	if int(d.target.Swap(int32(i))) == i {
		return
	}
	if i >= 0 && int(d.current.Load()) != i && d.video {
		d.up.requestKeyframe(i)
	}
}

// needsKeyframe reports whether the subscriber waits for a keyframe: to start, to switch layers,
// or after a drop. The tick asks again while it does (a request or its keyframe may be lost, and
// browsers send no keyframe unasked).
func (d *DownTrack) needsKeyframe() (layer int, ok bool) {
	t := int(d.target.Load())
	if !d.video || t < 0 || d.bound.Load() == nil {
		return 0, false
	}
	return t, int(d.current.Load()) != t || d.waiting.Load()
}

// enqueue is called by the publisher's reader goroutine for every packet of layer l. It takes
// only the layers being forwarded or switched to, and never blocks.
func (d *DownTrack) enqueue(l int8, m packetcache.Meta) {
	if int32(l) != d.current.Load() && int32(l) != d.target.Load() {
		return
	}
	q := queued{seq: m.Seq, layer: l}
	if m.Keyframe {
		q.flags = flagKeyframe
	}
	select {
	case d.queue <- q:
	default:
		d.overflow.Store(true)
		d.stats.dropped.Add(1)
	}
}

// run is the writer goroutine.
func (d *DownTrack) run() {
	for {
		select {
		case <-d.done:
			return
		case q := <-d.queue:
			if b := d.bound.Load(); b != nil {
				if q.flags&flagResend != 0 {
					d.resend(b, q.seq)
				} else {
					d.write(b, q)
				}
			}
		}
	}
}

// skip starts a deliberate gap: video waits for the next keyframe, which it asks for; audio just
// goes on. Either way the next packet sent closes the gap in sequence numbers.
func (d *DownTrack) skip() {
	d.resync = true
	if d.video && !d.waiting.Load() {
		d.waiting.Store(true)
		d.up.requestKeyframe(int(d.current.Load()))
	}
}

func (d *DownTrack) write(b *binding, q queued) {
	if d.overflow.Swap(false) {
		d.skip()
	}
	if cur := int8(d.current.Load()); q.layer != cur {
		// A packet of the target layer: the switch to it (or the start) happens at a keyframe.
		if int32(q.layer) != d.target.Load() || (d.video && q.flags&flagKeyframe == 0) {
			return
		}
		if cur >= 0 {
			d.stats.switches.Add(1)
		}
		d.current.Store(int32(q.layer))
		d.switched = true
		d.waiting.Store(false)
	} else if d.target.Load() < 0 {
		d.current.Store(-1) // paused: nothing more until a target is set, which starts like a switch
		return
	}
	if d.waiting.Load() {
		if q.flags&flagKeyframe == 0 {
			if d.started {
				d.stats.dropped.Add(1) // skipped for congestion (before the start, nothing is lost)
			}
			return
		}
		d.waiting.Store(false)
	}
	l := d.up.layer(int(q.layer))
	if l == nil {
		return
	}
	m, n, ok := l.cache.Get(q.seq, d.buf)
	if !ok { // the writer fell so far behind that the cache moved on
		d.stats.dropped.Add(1)
		d.skip()
		return
	}
	newest := true
	switch {
	case !d.started:
		d.started = true
		d.seqOffset = uint16(rand.Uint32()) - m.Seq
		d.tsOffset = rand.Uint32()
		d.highestIn, d.resumeIn = m.Seq, m.Seq
	case d.switched:
		// Another layer, or the same after a pause: its own sequence numbers and timestamps.
		// Continue right after the last ones sent, the timestamp advanced by the time since then.
		elapsed := uint64(max(nanotime()-d.lastFrameAt, 0))
		step := uint32(elapsed * uint64(d.up.codec.ClockRate) / 1e9)
		d.seqOffset = d.highestIn + d.seqOffset + 1 - m.Seq
		d.tsOffset = d.highestTS + max(step, 1) - m.Timestamp
		d.highestIn, d.resumeIn = m.Seq, m.Seq
	case d.resync:
		// Continue right after the last sequence number sent, so the skipped packets leave no gap.
		d.seqOffset = d.highestIn + d.seqOffset + 1 - m.Seq
		d.highestIn, d.resumeIn = m.Seq, m.Seq
	case seqBefore(d.highestIn, m.Seq):
		d.highestIn = m.Seq
		if d.highestIn-d.resumeIn > 0x4000 { // keep resumeIn within comparing distance
			d.resumeIn = d.highestIn - 0x4000
		}
	case d.highestIn-m.Seq > d.highestIn-d.resumeIn:
		return // a late packet from before a skip: its place in the sequence is gone
	default:
		newest = false // a reordered packet
	}
	outSeq, outTS := m.Seq+d.seqOffset, m.Timestamp+d.tsOffset
	var pic uint16
	var tl0 uint8
	if d.rewriteVP8 {
		pic, tl0 = d.rewritePictureID(d.buf[:n], newest)
	}
	d.switched, d.resync = false, false
	if newest {
		d.highestTS = outTS
	}
	d.hdr.PayloadType, d.hdr.SSRC = b.pt, b.ssrc
	d.hdr.SequenceNumber, d.hdr.Timestamp, d.hdr.Marker = outSeq, outTS, m.Marker
	if _, err := b.stream.WriteRTP(&d.hdr, d.buf[:n]); err != nil {
		return
	}
	now := nanotime()
	if newest {
		d.clock.set(outTS, now)
	}
	if m.Marker {
		d.lastFrameAt = now
	}
	d.seq.sent(seqEntry{outSeq: outSeq, inSeq: m.Seq, outTS: outTS, layer: q.layer, pic: pic, tl0: tl0})
	d.stats.packets.Add(1)
	d.stats.bytes.Add(uint64(n))
}

// rewritePictureID makes the VP8 picture id and TL0PICIDX of payload run on from those sent
// before a layer switch, and returns what it wrote. newest says the packet is the highest
// sequence number yet, so its values are the ones to continue from.
func (d *DownTrack) rewritePictureID(payload []byte, newest bool) (uint16, uint8) {
	desc, err := codec.ParseVP8Descriptor(payload)
	if err != nil {
		return 0, 0
	}
	if d.switched {
		d.picOffset = d.lastPic + 1 - desc.PictureID
		d.tl0Offset = d.lastTL0 + 1 - desc.TL0PICIDX
	}
	pic := (desc.PictureID + d.picOffset) & 0x7fff
	tl0 := desc.TL0PICIDX + d.tl0Offset
	desc.SetPictureID(payload, pic)
	desc.SetTL0PICIDX(payload, tl0)
	if newest {
		d.lastPic, d.lastTL0 = pic, tl0
	}
	return pic, tl0
}

// resend answers a NACK for outSeq from the publisher's cache, on the RTX stream when one was
// negotiated.
func (d *DownTrack) resend(b *binding, outSeq uint16) {
	e, ok := d.seq.resend(outSeq, nanotime(), resendSpacing(time.Duration(d.rtt.Load())))
	if !ok {
		return
	}
	l := d.up.layer(int(e.layer))
	if l == nil {
		return
	}
	hdr := &d.resendHdr
	*hdr = d.hdr
	hdr.Timestamp = e.outTS
	var payload []byte
	if b.rtxSSRC != 0 {
		m, n, ok := l.cache.Get(e.inSeq, d.buf[2:])
		if !ok {
			return
		}
		binary.BigEndian.PutUint16(d.buf, outSeq) // RFC 4588: the original sequence number first
		hdr.PayloadType, hdr.SSRC, hdr.SequenceNumber, hdr.Marker = b.rtxPT, b.rtxSSRC, d.rtxSeq, m.Marker
		d.rtxSeq++
		payload = d.buf[:n+2]
	} else {
		m, n, ok := l.cache.Get(e.inSeq, d.buf)
		if !ok {
			return
		}
		hdr.PayloadType, hdr.SSRC, hdr.SequenceNumber, hdr.Marker = b.pt, b.ssrc, outSeq, m.Marker
		payload = d.buf[:n]
	}
	if d.rewriteVP8 {
		vp8 := payload
		if b.rtxSSRC != 0 {
			vp8 = payload[2:]
		}
		if desc, err := codec.ParseVP8Descriptor(vp8); err == nil {
			desc.SetPictureID(vp8, e.pic)
			desc.SetTL0PICIDX(vp8, e.tl0)
		}
	}
	if _, err := b.stream.WriteRTP(hdr, payload); err == nil {
		d.stats.resent.Add(1)
	}
}

// readRTCP reads the subscriber's RTCP for this track until the sender stops: PLI and FIR become
// (throttled) keyframe requests to the publisher, NACKs are queued for the writer, receiver
// reports give the round-trip time. Reading is also what lets Pion's interceptors see the RTCP.
func (d *DownTrack) readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		n, attrs, err := sender.Read(buf)
		if err != nil {
			return
		}
		// An interceptor may have parsed the packets already and left them in the attributes.
		var pkts []rtcp.Packet
		if attrs != nil {
			pkts, err = attrs.GetRTCPPackets(buf[:n])
		} else {
			pkts, err = rtcp.Unmarshal(buf[:n])
		}
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.stats.plis.Add(1)
				d.up.requestKeyframe(int(d.current.Load()))
			case *rtcp.TransportLayerNack:
				d.stats.nacks.Add(1)
				d.queueResends(p.Nacks)
			case *rtcp.ReceiverReport:
				d.updateRTT(p.Reports)
			}
		}
	}
}

// queueResends asks the writer to resend what a NACK lists. Resends take at most half of the
// queue: a burst of them must not push out the media that arrives meanwhile, or the subscriber
// would lose live video to get back old packets.
func (d *DownTrack) queueResends(pairs []rtcp.NackPair) {
	for _, pair := range pairs {
		full := false
		pair.Range(func(seq uint16) bool {
			if len(d.queue) >= cap(d.queue)/2 {
				full = true
				return false
			}
			select {
			case d.queue <- queued{seq: seq, flags: flagResend}:
				return true
			default:
				full = true
				return false
			}
		})
		if full {
			return
		}
	}
}

// updateRTT computes the round-trip time from a receiver report block that echoes one of our
// sender reports (RFC 3550 section 6.4.1): now - LSR - DLSR, in 1/65536 seconds.
func (d *DownTrack) updateRTT(reports []rtcp.ReceptionReport) {
	b := d.bound.Load()
	for _, r := range reports {
		if b == nil || r.SSRC != b.ssrc || r.LastSenderReport == 0 {
			continue
		}
		now := ntpMiddle(time.Now())
		units := now - r.LastSenderReport - r.Delay
		if units < 10*65536 { // ignore nonsense: over 10 s, or negative (wrapped)
			d.rtt.Store(int64(units) * int64(time.Second) / 65536)
		}
	}
}

func (d *DownTrack) close() {
	d.closeOnce.Do(func() { close(d.done) })
}

// matchCodec picks, among the codecs the subscriber's connection negotiated, the one that carries
// the publisher's codec: the same MIME type, and for H.264 the same packetization mode and
// profile, since a decoder cannot take another.
func matchCodec(want webrtc.RTPCodecParameters, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i := range have {
		c := &have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if c.SDPFmtpLine == want.SDPFmtpLine {
			return *c, true
		}
		if !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) {
			if fallback == nil {
				fallback = c
			}
			continue
		}
		if fmtpValue(c.SDPFmtpLine, "packetization-mode") == fmtpValue(want.SDPFmtpLine, "packetization-mode") &&
			h264Profile(c.SDPFmtpLine) == h264Profile(want.SDPFmtpLine) && fallback == nil {
			fallback = c
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// rtxPayloadType finds the RTX payload type associated (apt=) with payload type pt.
func rtxPayloadType(pt webrtc.PayloadType, have []webrtc.RTPCodecParameters) (uint8, bool) {
	for _, c := range have {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && fmtpValue(c.SDPFmtpLine, "apt") == itoa(int(pt)) {
			return uint8(c.PayloadType), true
		}
	}
	return 0, false
}

func fmtpValue(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// h264Profile is the profile_idc of a profile-level-id (its first byte), which a decoder must
// support; the level may differ.
func h264Profile(fmtp string) string {
	v := fmtpValue(fmtp, "profile-level-id")
	if len(v) < 2 {
		return ""
	}
	return strings.ToLower(v[:2])
}
