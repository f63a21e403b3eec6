package sfu

import (
	"math"
	"testing"

	"github.com/pion/webrtc/v4"
)

// allocTrack is a published video for allocation tests: rates in bits per second per layer, 0
// for a layer that is not live.
func allocTrack(publisher string, source Source, rates ...int) *UpTrack {
	up := &UpTrack{id: publisher + "/" + string(source), publisher: &Participant{id: publisher}, kind: webrtc.RTPCodecTypeVideo,
		source: source, simulcast: len(rates) > 1}
	for i, r := range rates {
		if up.simulcast {
			up.infos = append(up.infos, LayerInfo{RID: itoa(i), Width: 320 << i, Height: 180 << i})
		}
		up.alloc.rate[i] = float64(r)
		up.alloc.live[i] = r > 0
	}
	return up
}

func allocDown(up *UpTrack, wanted, target int) *DownTrack {
	d := &DownTrack{up: up}
	d.alloc.wanted = int8(wanted)
	d.target.Store(int32(target))
	return d
}

func TestAllocateByPriorityWithinBudget(t *testing.T) {
	screen := allocTrack("carol", SourceScreen, 800_000)
	speaker := allocTrack("bob", SourceCamera, 100_000, 300_000, 1_000_000)
	other := allocTrack("dave", SourceCamera, 100_000, 300_000, 1_000_000)
	for _, c := range []struct {
		name   string
		budget int
		want   [3]int // other, speaker, screen: in the order given, not of priority
	}{
		{"no limit: each what it asks", math.MaxInt, [3]int{2, 2, 0}},
		{"plenty", 5_000_000, [3]int{2, 2, 0}},
		// screen 800k, speaker 1M (with 15% headroom to raise it), then other 300k.
		{"speaker before others", 2_200_000, [3]int{1, 2, 0}},
		// 1.9M would carry the speaker's top layer, but not the headroom to raise it.
		{"no raise without headroom", 2_000_000, [3]int{1, 1, 0}},
		// screen 800k first, then the lowest layer of each camera, then raises while it lasts.
		{"lowest layers first", 1_000_000, [3]int{0, 0, 0}},
		{"screen first", 900_000, [3]int{-1, 0, 0}},
		{"only the screen", 850_000, [3]int{-1, -1, 0}},
		{"nothing fits but a low layer", 150_000, [3]int{-1, 0, -1}},
	} {
		videos := []*DownTrack{allocDown(other, 2, 0), allocDown(speaker, 2, 0), allocDown(screen, 0, 0)}
		order := append([]*DownTrack(nil), videos...)
		got := allocate(c.budget, videos, "bob")
		byTrack := map[*DownTrack]int{}
		for i, d := range videos {
			byTrack[d] = got[i]
		}
		if r := [3]int{byTrack[order[0]], byTrack[order[1]], byTrack[order[2]]}; r != c.want {
			t.Errorf("%s (budget %d): other, speaker, screen got layers %v, want %v", c.name, c.budget, r, c.want)
		}
	}
}

func TestAllocateFallsBackToLiveLayers(t *testing.T) {
	for _, c := range []struct {
		name   string
		rates  []int
		wanted int
		want   int
	}{
		{"the top stopped: the next below", []int{100_000, 300_000, 0}, 2, 1},
		{"only the top live: the top", []int{0, 0, 1_000_000}, 0, 2},
		{"a hidden tile: paused", []int{100_000, 300_000, 1_000_000}, -1, -1},
		{"the middle stopped", []int{100_000, 0, 1_000_000}, 1, 0},
	} {
		up := allocTrack("bob", SourceCamera, c.rates...)
		if got := allocate(math.MaxInt, []*DownTrack{allocDown(up, c.wanted, 0)}, "")[0]; got != c.want {
			t.Errorf("%s: layer %d, want %d", c.name, got, c.want)
		}
	}
}

// A raise needs headroom over the new layer's rate; keeping a layer does not.
func TestAllocateHysteresis(t *testing.T) {
	up := allocTrack("bob", SourceCamera, 100_000, 300_000, 1_000_000)
	for _, c := range []struct {
		budget, target, want int
	}{
		{1_100_000, 1, 1}, // enough for the top layer, not for 15% over it: stay
		{1_200_000, 1, 2}, // enough with headroom: raise
		{1_000_000, 2, 2}, // exactly the top layer, and it has it: keep
		{999_999, 2, 1},   // less: step down
	} {
		if got := allocate(c.budget, []*DownTrack{allocDown(up, 2, c.target)}, "")[0]; got != c.want {
			t.Errorf("budget %d, at layer %d: layer %d, want %d", c.budget, c.target, got, c.want)
		}
	}
}

func TestLayerForSize(t *testing.T) {
	up := allocTrack("bob", SourceCamera, 1, 1, 1) // 320x180, 640x360, 1280x720
	for _, c := range []struct{ w, h, want int }{
		{0, 0, 2}, {160, 90, 0}, {320, 180, 0}, {360, 200, 0}, {400, 225, 1}, {640, 360, 1},
		{700, 400, 1}, {800, 450, 2}, {3840, 2160, 2}, {200, 700, 2},
	} {
		if got := up.layerForSize(c.w, c.h); got != c.want {
			t.Errorf("a %dx%d tile: layer %d, want %d", c.w, c.h, got, c.want)
		}
	}
}

func TestOrderLayers(t *testing.T) {
	rids := func(ls []LayerInfo) string {
		s := ""
		for _, l := range ls {
			s += l.RID + " "
		}
		return s
	}
	for _, c := range []struct {
		rids      []string
		described []LayerInfo
		want      string
	}{
		{[]string{"f", "h", "q"}, nil, "q h f "},
		{[]string{"h", "m", "l"}, nil, "l m h "},
		{[]string{"2", "0", "1"}, nil, "0 1 2 "},
		{[]string{"b", "a", "c"}, nil, "b a c "}, // unknown names: the SDP's order
		{[]string{"a", "b", "c"}, []LayerInfo{{RID: "a", Width: 1280, Height: 720}, {RID: "b", Width: 320, Height: 180}, {RID: "c", Width: 640, Height: 360}}, "b c a "},
		{[]string{"q", "h", "f", "x"}, nil, "q h f "}, // at most three
	} {
		if got := rids(orderLayers(c.rids, c.described)); got != c.want {
			t.Errorf("orderLayers(%v): %q, want %q", c.rids, got, c.want)
		}
	}
}

// A video being sent stays on while the budget holds most of its lowest layer; a paused one
// resumes only when the budget holds all of it.
func TestAllocateKeepsAVideoBeingSent(t *testing.T) {
	up := allocTrack("bob", SourceCamera, 1_000_000)
	for _, c := range []struct {
		budget, target, want int
	}{
		{850_000, 0, 0},   // 85% of what arrived, after a congestion: stays
		{700_000, 0, -1},  // clearly less: paused
		{850_000, -1, -1}, // paused: needs the whole rate to resume
		{1_000_000, -1, 0},
	} {
		if got := allocate(c.budget, []*DownTrack{allocDown(up, 0, c.target)}, "")[0]; got != c.want {
			t.Errorf("budget %d, at layer %d: layer %d, want %d", c.budget, c.target, got, c.want)
		}
	}
}
