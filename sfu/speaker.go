package sfu

import (
	"sync/atomic"
)

// Active speaker detection, from the audio level that browsers put in every audio packet (RFC
// 6464: the level in -dBov, 0 loudest, 127 silence). The publisher's reader adds each packet's
// loudness to its track's meter (two uncontended atomic adds); every tick the server
// reads the meters of each room, smooths them, and makes the loudest participant the active
// speaker once it has been loudest for speakerHold. A participant stays the speaker through
// silence, until someone else speaks: a layout does not jump back and forth at every pause. With
// no speaker yet, the first voice over the threshold takes the floor at once; afterwards a new
// voice must be clearly louder than the speaker (speakerMargin) for speakerHold ticks in a row.
const (
	audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	// speakerHold is how many ticks in a row a new voice must be the loudest to take over.
	speakerHold = 2
	// speakerThreshold is the smoothed loudness (127 minus the level) under which a participant
	// is not speaking: a mean level quieter than about -87 dBov is background noise. (Measured:
	// Chromium's fake microphone, a beep, gives tick means alternating about 70 and 30.)
	speakerThreshold = 40
	// speakerMargin is how much louder than the speaker a new voice must be to take over.
	speakerMargin = 1.2
	// speakerSmoothing is the weight of the newest tick in the smoothed loudness.
	speakerSmoothing = 0.6
)

// levelMeter sums the loudness of one audio track's packets between two ticks.
type levelMeter struct {
	sum, count atomic.Uint64
}

func (m *levelMeter) add(level uint8) {
	m.sum.Add(uint64(127 - level&0x7f))
	m.count.Add(1)
}

// take returns the mean loudness since the last take; 0 if no packet came (muted, or silence
// suppressed).
func (m *levelMeter) take() float64 {
	n := m.count.Swap(0)
	s := m.sum.Swap(0)
	if n == 0 {
		return 0
	}
	return float64(s) / float64(n)
}

// speakerState decides a room's active speaker. It is pure: update takes one tick's loudness
// per participant id.
type speakerState struct {
	current   string
	candidate string
	streak    int
	smooth    map[string]float64
}

// update folds in one tick's mean loudness per participant and reports whether the active
// speaker changed.
func (s *speakerState) update(loudness map[string]float64) bool {
	if s.smooth == nil {
		s.smooth = map[string]float64{}
	}
	for id := range s.smooth {
		if _, ok := loudness[id]; !ok {
			delete(s.smooth, id) // gone from the room
		}
	}
	loudest, max := "", float64(speakerThreshold)
	for id, l := range loudness {
		v := speakerSmoothing*l + (1-speakerSmoothing)*s.smooth[id]
		s.smooth[id] = v
		if v > max || (v == max && id < loudest) {
			loudest, max = id, v
		}
	}
	if loudest == "" || loudest == s.current || (s.current != "" && max < speakerMargin*s.smooth[s.current]) {
		s.candidate, s.streak = "", 0
		return false
	}
	if s.current == "" {
		s.current, s.candidate, s.streak = loudest, "", 0
		return true
	}
	if loudest != s.candidate {
		s.candidate, s.streak = loudest, 0
	}
	s.streak++
	if s.streak < speakerHold {
		return false
	}
	s.current, s.candidate, s.streak = loudest, "", 0
	return true
}

// forget drops a participant who left; it reports whether it was the active speaker.
func (s *speakerState) forget(id string) bool {
	delete(s.smooth, id)
	if s.candidate == id {
		s.candidate, s.streak = "", 0
	}
	if s.current == id {
		s.current = ""
		return true
	}
	return false
}

// updateSpeakerLocked runs once a tick for each room, with its lock held.
func (r *Room) updateSpeakerLocked() {
	loudness := make(map[string]float64, len(r.participants))
	for _, p := range r.participants {
		for _, up := range p.published {
			if up.audioLevelID != 0 {
				loudness[p.id] += up.level.take()
			}
		}
	}
	if len(loudness) == 0 || !r.speaker.update(loudness) {
		return
	}
	for _, p := range r.participants {
		p.sig.ActiveSpeaker(r.speaker.current)
	}
}
