package packetcache

import (
	"bytes"
	"sync"
	"testing"
)

func TestStoreGet(t *testing.T) {
	c := New(100)
	if c.Len() != 128 {
		t.Fatalf("Len = %d, want 128 (rounded up to a power of two)", c.Len())
	}
	dst := make([]byte, MaxPacket)
	for seq := 65500; seq < 65500+300; seq++ { // crosses the 16-bit wrap
		s := uint16(seq)
		if !c.Store(Meta{Seq: s, Timestamp: uint32(seq) * 10, Marker: seq%3 == 0, Keyframe: seq%50 == 0}, []byte{byte(s), byte(s >> 8), 7}) {
			t.Fatal("Store refused a small packet")
		}
	}
	start := 65500
	last := uint16(start + 299)
	for back := 0; back < 128; back++ {
		s := last - uint16(back)
		m, n, ok := c.Get(s, dst)
		if !ok {
			t.Fatalf("packet %d (%d back) missing", s, back)
		}
		if m.Seq != s || n != 3 || !bytes.Equal(dst[:n], []byte{byte(s), byte(s >> 8), 7}) {
			t.Fatalf("packet %d: got meta %+v payload %v", s, m, dst[:n])
		}
	}
	// One slot further back has been overwritten by a newer packet: it must be reported missing.
	if _, _, ok := c.Get(last-128, dst); ok {
		t.Fatal("an overwritten packet was returned")
	}
	if _, _, ok := c.Get(last+1, dst); ok {
		t.Fatal("a packet never stored was returned")
	}
	if _, ok := c.Meta(last - 128); ok {
		t.Fatal("Meta returned an overwritten packet")
	}
}

func TestRefusesOversizeAndShortDst(t *testing.T) {
	c := New(8)
	if c.Store(Meta{Seq: 1}, make([]byte, MaxPacket+1)) {
		t.Fatal("stored an oversize payload")
	}
	c.Store(Meta{Seq: 2}, make([]byte, 100))
	if _, _, ok := c.Get(2, make([]byte, 99)); ok {
		t.Fatal("Get copied into a destination too small")
	}
}

func TestNoAllocs(t *testing.T) {
	c := New(512)
	payload := make([]byte, 1200)
	dst := make([]byte, MaxPacket)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		c.Store(Meta{Seq: seq}, payload)
		c.Get(seq, dst)
	})
	if allocs != 0 {
		t.Fatalf("Store+Get allocate %.1f per packet, want 0", allocs)
	}
}

func TestConcurrentReaders(t *testing.T) {
	c := New(64)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, MaxPacket)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for s := uint16(0); s < 64; s++ {
					if m, n, ok := c.Get(s, dst); ok && (m.Seq != s || int(dst[0]) != int(s) || n != 10) {
						t.Errorf("torn read: seq %d meta %+v first byte %d", s, m, dst[0])
						return
					}
				}
			}
		}()
	}
	p := make([]byte, 10)
	for i := 0; i < 20000; i++ {
		s := uint16(i)
		p[0] = byte(s & 63)
		c.Store(Meta{Seq: s & 63}, p)
	}
	close(stop)
	wg.Wait()
}

func FuzzStoreGet(f *testing.F) {
	f.Add(uint16(0), []byte{1, 2, 3})
	f.Add(uint16(65535), make([]byte, MaxPacket))
	f.Fuzz(func(t *testing.T, seq uint16, payload []byte) {
		c := New(16)
		stored := c.Store(Meta{Seq: seq}, payload)
		if stored != (len(payload) <= MaxPacket) {
			t.Fatalf("Store = %v for %d bytes", stored, len(payload))
		}
		dst := make([]byte, MaxPacket)
		_, n, ok := c.Get(seq, dst)
		if ok != stored || (ok && !bytes.Equal(dst[:n], payload)) {
			t.Fatalf("Get after Store: ok=%v n=%d", ok, n)
		}
	})
}
