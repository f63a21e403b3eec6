package bwe

import (
	"math"
	"sync"
)

// Config bounds an Estimator, in bits per second.
type Config struct {
	Initial, Min, Max int
}

const (
	decreaseFactor    = 0.85  // of what arrived, on overuse
	increasePerSec    = 1.08  // growth of the delay-based rate a second, while no overuse shows
	lossHigh          = 0.10  // over this share lost, the loss-based rate falls
	lossLow           = 0.02  // under it, it grows back
	lossIncrease      = 1.05  // per lossInterval
	lossInterval      = 200e6 // ns: the shortest window over which loss is measured
	lossWindowPackets = 20    // the fewest packets it is measured over
	decreaseInterval  = 200e6 // ns between two delay-based decreases: give the last one time to show
	ackWindow         = 500e6 // ns over which the arrived rate is measured
	maxIncreaseStep   = 1e9   // ns: a gap in feedback does not make one huge step
	lossSmoothing     = 0.5   // weight of the newest feedback's loss
	referenceUnit     = 64e6  // ns per unit of a feedback's reference time
	lossGrace         = 500e6 // ns a packet reported lost may still be reported received (late, reordered)
	pendingLossMax    = 1024  // losses awaiting their grace; beyond, they count at once
)

// Estimator turns one connection's transport-wide feedback into a bandwidth estimate. Its
// methods are safe for concurrent use.
type Estimator struct {
	cfg     Config
	history History

	mu          sync.Mutex
	rate        float64 // delay-based
	lossRate    float64 // loss-based, never above rate; the estimate
	lastLoss    int64   // when the last loss window ended
	windowLost  int
	windowTotal int
	lossWindows int
	// Packets reported lost, not yet counted: a receiver reports a packet that comes late
	// lost, then received in a later feedback. A loss counts once lossGrace has passed without
	// that happening.
	pendingLost [pendingLossMax]struct {
		seq uint16
		at  int64
	}
	pendingHead, pendingLen int
	congested               bool // the path has lost packets: the estimate is a limit
	trend                   *trendline
	loss                    float64 // smoothed share lost
	lastUpdate              int64
	lastDecrease            int64
	feedbacks               int
	acked                   [16]struct {
		at    int64
		bytes int
	}
	ackedNext int
}

// NewEstimator starts an estimate at cfg.Initial.
func NewEstimator(cfg Config) *Estimator {
	if cfg.Min <= 0 {
		cfg.Min = 50_000
	}
	if cfg.Max < cfg.Min {
		cfg.Max = 50_000_000
	}
	if cfg.Initial < cfg.Min || cfg.Initial > cfg.Max {
		cfg.Initial = max(cfg.Min, min(cfg.Max, 1_000_000))
	}
	return &Estimator{cfg: cfg, rate: float64(cfg.Initial), lossRate: float64(cfg.Initial), trend: newTrendline()}
}

// Estimate is the current estimate in bits per second, and whether it is a limit: whether the
// path has lost over a tenth of the packets of a window at least once. Until it has, the
// estimate says too little about the path to hold traffic back: it is the initial guess grown
// by 8% a second, lowered by the delay detector alone. (Fed by receivers that timestamp arrivals
// late under CPU load, as Pion's do, the delay detector saw growing queues on loopback where
// there were none, and paused video for nothing; see docs/performance.md.)
func (e *Estimator) Estimate() (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.lossRate), e.congested
}

// Loss is the smoothed share of packets the subscriber reported lost.
func (e *Estimator) Loss() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loss
}

// OnFeedback takes one transport-wide congestion control feedback from the subscriber: the
// RTCP packet's bytes. It reports false if they are not one.
func (e *Estimator) OnFeedback(p []byte) bool {
	return e.onFeedback(p, nanotime())
}

func (e *Estimator) onFeedback(p []byte, now int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	received, lost, bytes, ok := e.walk(p, now)
	lost += e.confirmLosses(now)
	if received+lost == 0 {
		return ok
	}
	e.feedbacks++
	e.acked[e.ackedNext] = struct {
		at    int64
		bytes int
	}{now, bytes}
	e.ackedNext = (e.ackedNext + 1) % len(e.acked)
	dt := now - e.lastUpdate
	if e.lastUpdate == 0 || dt > maxIncreaseStep {
		dt = 0
	}
	e.lastUpdate = now

	// The delay-based rate: down to what arrived when queues grow, held while they drain,
	// otherwise up 8% a second.
	switch e.trend.state {
	case usageOver:
		if now-e.lastDecrease >= decreaseInterval {
			if arrived := e.ackedRate(now); arrived > 0 {
				e.rate = math.Min(e.rate, decreaseFactor*arrived)
			} else {
				e.rate *= decreaseFactor
			}
			e.lastDecrease = now
		}
	case usageNormal:
		e.rate *= math.Pow(increasePerSec, float64(dt)/1e9)
	}
	e.rate = math.Max(float64(e.cfg.Min), math.Min(float64(e.cfg.Max), e.rate))

	// The loss-based rate, the estimate: down by half the share lost when over a tenth is lost,
	// up 5% when under 2% is, never above the delay-based rate. The share is taken over at least
	// lossWindowPackets packets and lossInterval, so that one report does not swing it.
	e.windowLost += lost
	e.windowTotal += received + lost
	if e.windowTotal >= lossWindowPackets && now-e.lastLoss >= lossInterval {
		share := float64(e.windowLost) / float64(e.windowTotal)
		e.windowLost, e.windowTotal, e.lastLoss = 0, 0, now
		if e.lossWindows == 0 {
			e.loss = share
		} else {
			e.loss += lossSmoothing * (share - e.loss)
		}
		e.lossWindows++
		switch {
		case share > lossHigh:
			e.lossRate *= 1 - 0.5*share
			e.congested = true
		case share < lossLow:
			e.lossRate *= lossIncrease
		}
	}
	e.lossRate = math.Max(float64(e.cfg.Min), math.Min(e.rate, e.lossRate))
	return ok
}

// walk goes through the packets a feedback reports, feeding the delay detector, and counts
// those the server sent and still remembers.
func (e *Estimator) walk(p []byte, now int64) (received, lost, bytes int, ok bool) {
	h := &e.history
	h.mu.Lock()
	defer h.mu.Unlock()
	ok = walkFeedback(p, func(seq uint16, arrived bool, at int64) {
		s, known := h.lookup(seq)
		switch {
		case !known || s.reported == reportedReceived:
			// Unknown, or reported before: count each packet once.
		case arrived && s.reported == reportedLost:
			// Reported lost, then arrived late: not a loss after all (confirmLosses skips
			// it). A late packet says nothing of queueing delay: no sample for the detector.
			s.reported = reportedReceived
			received++
			bytes += int(s.size)
		case arrived:
			s.reported = reportedReceived
			received++
			bytes += int(s.size)
			e.trend.add(s.at, at, int(s.size))
		case s.reported == notReported:
			s.reported = reportedLost
			if e.pendingLen == pendingLossMax {
				lost++ // no room to wait: count it now
				return
			}
			e.pendingLost[(e.pendingHead+e.pendingLen)%pendingLossMax] = struct {
				seq uint16
				at  int64
			}{seq, now}
			e.pendingLen++
		}
	})
	return received, lost, bytes, ok
}

// confirmLosses counts the packets reported lost over lossGrace ago that no feedback has
// reported received since. The estimator's lock is held.
func (e *Estimator) confirmLosses(now int64) (lost int) {
	h := &e.history
	h.mu.Lock()
	defer h.mu.Unlock()
	for e.pendingLen > 0 {
		p := &e.pendingLost[e.pendingHead]
		if now-p.at < lossGrace {
			break
		}
		if s, known := h.lookup(p.seq); known && s.reported == reportedLost {
			lost++
		}
		e.pendingHead = (e.pendingHead + 1) % pendingLossMax
		e.pendingLen--
	}
	return lost
}

// ackedRate is what arrived at the subscriber over the last ackWindow, in bits per second, or 0
// when there is too little to tell.
func (e *Estimator) ackedRate(now int64) float64 {
	oldest := now
	total := 0
	for _, a := range e.acked {
		if a.at == 0 || now-a.at > ackWindow {
			continue
		}
		total += a.bytes
		oldest = min(oldest, a.at)
	}
	span := float64(now-oldest) / 1e9
	if span < 0.05 {
		return 0
	}
	return float64(total*8) / span
}
