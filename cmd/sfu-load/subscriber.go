package main

import (
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Every client receives: subscribers everything published in their room, publishers everything
// but their own. Each remote track is read on its own goroutine (the client's OnTrack) into one
// reused buffer; the RTP header is skipped in place, the mark read, and the packet counted in the
// stream of its published track and its latency in the client's histogram. Nothing is allocated
// per packet here.

// stream is what one client received of one published track.
type stream struct {
	track uint32
	video bool

	mu      sync.Mutex
	seq     seqTracker
	packets uint64 // every packet with a mark, duplicates too
	bytes   uint64 // RTP bytes as read, header and payload
}

// streamTotals sums streams.
type streamTotals struct {
	streams                  int
	videoStreams             int
	packets, bytes           uint64
	expected, received, lost uint64
	duplicates, old, skipped uint64
}

func (s *stream) addTo(t *streamTotals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.streams++
	t.packets += s.packets
	t.bytes += s.bytes
	t.expected += s.seq.expected()
	t.received += s.seq.received
	t.lost += s.seq.lost()
	t.duplicates += s.seq.duplicates
	t.old += s.seq.old
	t.skipped += min(s.seq.skipped, s.seq.lost())
	if s.video {
		t.videoStreams++
	}
}

// onTrack is the client's OnTrack: it reads t until it ends.
func (p *participant) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closing { // leave is waiting for the readers: read without counting
		p.mu.Unlock()
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	}
	p.readers.Add(2)
	p.mu.Unlock()
	defer p.readers.Done()
	// The server's sender reports; read so that Pion's interceptors see them.
	go func() {
		defer p.readers.Done()
		for {
			if _, _, err := r.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	skip := 0
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		skip = videoHeaderLen
	}
	buf := make([]byte, 1500)
	var s *stream
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		s = p.count(buf[:n], skip, s, time.Now())
	}
}

// count records the packet b, read at now from a track whose payloads start with skip bytes of
// codec header. s is the stream of the track's previous packet (nil at first); count returns
// this packet's. It allocates nothing, but for a new stream.
func (p *participant) count(b []byte, skip int, s *stream, now time.Time) *stream {
	payload, ok := rtpPayload(b)
	if !ok || len(payload) < skip+markLen {
		p.unmarked.Add(1)
		return s
	}
	m, ok := parseMark(payload[skip:])
	if !ok {
		p.unmarked.Add(1)
		return s
	}
	if s == nil || s.track != m.track {
		s = p.stream(m.track, skip > 0)
	}
	keyframe := skip > 0 && payload[0] == vp8Start && payload[1]&1 == 0
	s.mu.Lock()
	s.seq.add(m.counter, keyframe)
	s.packets++
	s.bytes += uint64(len(b))
	s.mu.Unlock()
	p.latency.add(now.Sub(time.Unix(0, m.sent)))
	return s
}

// stream returns the client's stream of the published track index, made on its first packet.
func (p *participant) stream(track uint32, video bool) *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.streams[track]; ok {
		return s
	}
	if len(p.streams) == 0 {
		p.firstMedia.Store(int64(time.Since(p.joinStart)))
	}
	s := &stream{track: track, video: video}
	p.streams[track] = s
	return s
}

// received adds the client's streams to t.
func (p *participant) received(t *streamTotals) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.streams {
		s.addTo(t)
	}
}
