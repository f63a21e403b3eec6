package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A publisher sends synthetic media shaped like a browser's, and repairs it like one:
//
//   - video: every 1/30 s one frame of bitrate/30 bits, as a burst of packets of at most
//     maxPacketPayload bytes, the marker bit on the last; a keyframe (keyframeFactor times
//     bigger) at the start, every keyframe interval, and soon after a PLI or FIR;
//   - audio: 50 packets a second of 100 to 160 bytes, the size of Opus voice;
//   - a NACK is answered by sending the same packet again (same sequence number, same bytes)
//     from a ring of the packets sent in the last second or so. The load tester's API has no
//     NACK responder of Pion's, which would keep its own copy of every packet.
//
// Nothing is allocated per packet: payloads are written into the ring's slots and sent from there.

const (
	framesPerSecond  = 30
	maxPacketPayload = 1100
	keyframeFactor   = 4
	audioInterval    = 20 * time.Millisecond
	audioMinSize     = 100
	audioMaxSize     = 160
	// cacheSeconds is how much history the resend ring holds: a NACK comes one round trip
	// after the loss, and the server asks at most a few times, 100 ms or more apart.
	cacheSeconds = 1
)

// synthTrack is one published track.
type synthTrack struct {
	*webrtc.TrackLocalStaticRTP
	video        bool
	index        uint32 // the track index in the marks
	frameBytes   int
	keyframeGap  time.Duration
	wantKeyframe atomic.Bool

	mu      sync.Mutex // the ring and the packet, between the sender and the RTCP reader
	ring    []slot
	pkt     rtp.Packet
	seq     uint16
	ts      uint32
	counter uint32
	rng     *rand.Rand

	sentPackets, sentBytes atomic.Uint64
	nacked, resent, plis   atomic.Uint64
	keyframes              atomic.Uint64
}

// slot is one sent packet kept for resending.
type slot struct {
	valid  bool
	seq    uint16
	ts     uint32
	marker bool
	n      int
	buf    []byte
}

func newVideoTrack(name string, index uint32, bitrate int, keyframeGap time.Duration) (*synthTrack, error) {
	c := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	tr, err := webrtc.NewTrackLocalStaticRTP(c, "video-"+name, "load-"+name)
	if err != nil {
		return nil, err
	}
	frame := max(bitrate/8/framesPerSecond, videoHeaderLen+markLen)
	// Packets a second, keyframes counted in, with room to spare.
	pps := framesPerSecond * (frame*keyframeFactor/maxPacketPayload + 1) * cacheSeconds
	return newSynthTrack(tr, true, index, frame, keyframeGap, pps, maxPacketPayload), nil
}

func newAudioTrack(name string, index uint32) (*synthTrack, error) {
	c := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	tr, err := webrtc.NewTrackLocalStaticRTP(c, "audio-"+name, "load-"+name)
	if err != nil {
		return nil, err
	}
	return newSynthTrack(tr, false, index, 0, 0, int(time.Second/audioInterval)*cacheSeconds, audioMaxSize), nil
}

func newSynthTrack(tr *webrtc.TrackLocalStaticRTP, video bool, index uint32, frame int, keyframeGap time.Duration, slots, size int) *synthTrack {
	n := 64
	for n < slots {
		n *= 2
	}
	mem := make([]byte, n*size)
	ring := make([]slot, n)
	for i := range ring {
		ring[i].buf = mem[i*size : (i+1)*size : (i+1)*size]
	}
	seed := uint64(time.Now().UnixNano()) + uint64(index)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	return &synthTrack{
		TrackLocalStaticRTP: tr, video: video, index: index, frameBytes: frame, keyframeGap: keyframeGap,
		ring: ring, rng: rng, seq: uint16(rng.Uint32()), ts: rng.Uint32(),
		pkt: rtp.Packet{Header: rtp.Header{Version: 2}},
	}
}

// run sends until ctx ends.
func (s *synthTrack) run(ctx context.Context) {
	every := audioInterval
	if s.video {
		every = time.Second / framesPerSecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var nextKeyframe time.Time // zero: the first frame is a keyframe
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.video {
			s.sendAudio()
			continue
		}
		now := time.Now()
		key := s.wantKeyframe.Swap(false) || !now.Before(nextKeyframe)
		if key {
			nextKeyframe = now.Add(s.keyframeGap)
		}
		s.sendFrame(key)
	}
}

func (s *synthTrack) sendFrame(key bool) {
	size := s.frameBytes
	if key {
		size *= keyframeFactor
		s.keyframes.Add(1)
	}
	n := (size + maxPacketPayload - 1) / maxPacketPayload
	per := max((size+n-1)/n, videoHeaderLen+markLen)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		sl := s.next(per, i == n-1)
		putVideoHeader(sl.buf, i == 0, key)
		putMark(sl.buf[videoHeaderLen:], mark{track: s.index, counter: s.counter, sent: time.Now().UnixNano()})
		s.counter++
		s.write(sl)
	}
	s.ts += 90000 / framesPerSecond
}

func (s *synthTrack) sendAudio() {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.next(audioMinSize+s.rng.IntN(audioMaxSize-audioMinSize+1), s.counter == 0)
	putMark(sl.buf, mark{track: s.index, counter: s.counter, sent: time.Now().UnixNano()})
	s.counter++
	s.write(sl)
	s.ts += 48000 / 50
}

// next takes the ring's slot for the next sequence number. s.mu is held.
func (s *synthTrack) next(n int, marker bool) *slot {
	sl := &s.ring[int(s.seq)%len(s.ring)]
	*sl = slot{valid: true, seq: s.seq, ts: s.ts, marker: marker, n: n, buf: sl.buf}
	s.seq++
	return sl
}

// write sends the packet in sl. s.mu is held.
func (s *synthTrack) write(sl *slot) {
	s.pkt.SequenceNumber, s.pkt.Timestamp, s.pkt.Marker = sl.seq, sl.ts, sl.marker
	s.pkt.Payload = sl.buf[:sl.n]
	if err := s.WriteRTP(&s.pkt); err == nil {
		s.sentPackets.Add(1)
		s.sentBytes.Add(uint64(12 + sl.n))
	}
}

// resend sends packet seq again if the ring still has it.
func (s *synthTrack) resend(seq uint16) {
	s.nacked.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &s.ring[int(seq)%len(s.ring)]
	if !sl.valid || sl.seq != seq {
		return
	}
	s.write(sl)
	s.resent.Add(1)
}

// onRTCP handles the server's RTCP about t: keyframe requests and NACKs.
func (s *synthTrack) onRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			if s.video {
				s.plis.Add(1)
				s.wantKeyframe.Store(true)
			}
		case *rtcp.TransportLayerNack:
			for _, pair := range p.Nacks {
				s.resend(pair.PacketID)
				for i := range 16 {
					if pair.LostPackets&(1<<i) != 0 {
						s.resend(pair.PacketID + uint16(i) + 1)
					}
				}
			}
		}
	}
}
