// Package packetcache keeps the recent packets of one published track, so that every subscriber's
// retransmissions are served from one shared copy.
//
// The cache is a ring of fixed-size slots indexed by RTP sequence number. The publisher's reader
// goroutine is the only writer; subscribers' writer goroutines copy packets out. Slots are
// allocated once, so storing and fetching allocate nothing. A packet stays until the ring wraps,
// so the ring is sized to the track's packet rate times the longest useful retransmission delay
// (about a second). A lookup checks the slot's sequence number, so a packet that the ring has
// already overwritten is reported missing, never returned in place of the one asked for.
package packetcache

import "sync"

// MaxPacket is the largest payload a slot holds. RTP over UDP on a 1500-byte MTU path stays under it;
// a larger payload is not cached (it could not have crossed the path whole anyway).
const MaxPacket = 1500

// Meta is what the forwarding path needs to know of a cached packet besides its payload.
type Meta struct {
	Seq       uint16
	Timestamp uint32
	Marker    bool
	Keyframe  bool // the first packet of a keyframe
}

type slot struct {
	meta  Meta
	valid bool
	n     uint16
	buf   [MaxPacket]byte
}

// Cache is the packet cache of one track. Its methods are safe for concurrent use.
type Cache struct {
	mu    sync.RWMutex
	slots []slot
	mask  uint16
}

// New returns a cache of at least size slots (rounded up to a power of two, at most 32768).
func New(size int) *Cache {
	n := 1
	for n < size && n < 1<<15 {
		n <<= 1
	}
	return &Cache{slots: make([]slot, n), mask: uint16(n - 1)}
}

// Len is the number of slots.
func (c *Cache) Len() int { return len(c.slots) }

// Store copies payload into the slot of m.Seq, replacing whatever packet was there. It reports
// false, and stores nothing, for a payload larger than MaxPacket.
func (c *Cache) Store(m Meta, payload []byte) bool {
	if len(payload) > MaxPacket {
		return false
	}
	c.mu.Lock()
	s := &c.slots[m.Seq&c.mask]
	s.meta = m
	s.valid = true
	s.n = uint16(copy(s.buf[:], payload))
	c.mu.Unlock()
	return true
}

// Get copies the payload of packet seq into dst and returns its metadata and length. ok is false
// when the packet is not cached (never stored, or already overwritten) or dst is too small.
func (c *Cache) Get(seq uint16, dst []byte) (m Meta, n int, ok bool) {
	c.mu.RLock()
	s := &c.slots[seq&c.mask]
	if s.valid && s.meta.Seq == seq && len(dst) >= int(s.n) {
		m, n, ok = s.meta, copy(dst, s.buf[:s.n]), true
	}
	c.mu.RUnlock()
	return m, n, ok
}

// Meta returns the metadata of packet seq without copying its payload.
func (c *Cache) Meta(seq uint16) (Meta, bool) {
	c.mu.RLock()
	s := &c.slots[seq&c.mask]
	m, ok := s.meta, s.valid && s.meta.Seq == seq
	c.mu.RUnlock()
	return m, ok
}
