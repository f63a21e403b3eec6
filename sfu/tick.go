package sfu

import "time"

// tick is how often the server looks at every room: who speaks (speaker.go), how much each
// layer sends, and what each subscriber gets (allocation.go).
const tick = 250 * time.Millisecond

// tickLoop runs every room's tick until the server closes.
func (s *Server) tickLoop() {
	defer close(s.tickDone)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for n := 1; ; n++ {
		var now time.Time
		select {
		case <-s.stopTick:
			return
		case now = <-t.C:
		}
		dt := now.Sub(last)
		last = now
		s.mu.Lock()
		rooms := make([]*Room, 0, len(s.rooms))
		for _, r := range s.rooms {
			rooms = append(rooms, r)
		}
		s.mu.Unlock()
		report := n%reportTicks == 0
		for _, r := range rooms {
			sendReports(r.tick(dt, report))
		}
	}
}

// tick updates the room's active speaker, measures its tracks, reallocates every member's
// downlink, and asks again for the keyframes that subscribers still wait for. With report set it
// also returns the RTCP reports that are due, for the caller to send.
func (r *Room) tick(dt time.Duration, report bool) []pendingReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updateSpeakerLocked()
	for _, p := range r.participants {
		for _, up := range p.published {
			up.measure(dt)
		}
	}
	for _, p := range r.participants {
		r.allocateLocked(p)
	}
	for _, p := range r.participants {
		for _, up := range p.published {
			r.dynacastLocked(up)
		}
		for _, d := range p.subscribed {
			if l, ok := d.needsKeyframe(); ok {
				d.up.requestKeyframe(l) // at most once per keyframe interval per layer
			}
		}
	}
	if report {
		return r.reportsLocked()
	}
	return nil
}
