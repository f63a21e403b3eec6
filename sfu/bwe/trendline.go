package bwe

import "math"

// The delay-based detector of Google Congestion Control (draft-ietf-rmcat-gcc-02 section 5, as
// libwebrtc's trendline estimator does it). Packets sent within burstTime of each other form a
// group; for two groups in a row, the difference between how far apart they arrived and how far
// apart they were sent is the change of the queueing delay on the path. Its running sum,
// smoothed, against arrival time, has a slope: the trend. A trend over an adaptive threshold for
// a while means the path's queues grow (overuse); under its negative, that they drain.

// usage is what the detector concludes.
type usage int

const (
	usageNormal usage = iota
	usageOver
	usageUnder
)

const (
	burstTime       = 5 * 1e6 // ns: packets sent this close together are one group
	trendWindow     = 20      // groups in the regression
	trendSmoothing  = 0.9
	trendGain       = 4.0
	overuseTime     = 10.0 // ms of overuse before it counts
	thresholdInit   = 12.5
	thresholdMin    = 6.0
	thresholdMax    = 600.0
	thresholdUp     = 0.0087
	thresholdDown   = 0.039
	maxDeltaSamples = 60
)

// group is a burst of packets.
type group struct {
	firstSend, lastSend int64 // ns, the sender's clock
	lastArrival         int64 // ns, the receiver's clock
	size                int
	valid               bool
}

// trendline is the detector's state.
type trendline struct {
	current, prev group

	accumulated, smoothed float64 // ms
	firstArrival          int64
	samples               [trendWindow]struct{ x, y float64 }
	n, next               int // samples held, where the next goes
	deltas                int // groups compared so far (capped)

	threshold      float64
	lastThreshold  int64 // ns, arrival time of the last threshold update
	prevTrend      float64
	overusing      float64 // ms spent over the threshold
	overuseCount   int
	state          usage
	haveThreshTime bool
}

func newTrendline() *trendline { return &trendline{threshold: thresholdInit, overusing: -1} }

// add takes one received packet, in the order sent. It returns the usage after it.
func (t *trendline) add(sendAt, arrival int64, size int) usage {
	if !t.current.valid {
		t.current = group{firstSend: sendAt, lastSend: sendAt, lastArrival: arrival, size: size, valid: true}
		return t.state
	}
	if sendAt < t.current.firstSend {
		return t.state // reordered from an earlier group: ignore
	}
	if sendAt-t.current.firstSend <= burstTime {
		t.current.lastSend = max(t.current.lastSend, sendAt)
		t.current.lastArrival = max(t.current.lastArrival, arrival)
		t.current.size += size
		return t.state
	}
	// The current group is complete: compare it with the one before.
	if t.prev.valid {
		sendDelta := float64(t.current.lastSend-t.prev.lastSend) / 1e6
		arrivalDelta := float64(t.current.lastArrival-t.prev.lastArrival) / 1e6
		t.update(arrivalDelta-sendDelta, sendDelta, t.current.lastArrival)
	}
	t.prev = t.current
	t.current = group{firstSend: sendAt, lastSend: sendAt, lastArrival: arrival, size: size, valid: true}
	return t.state
}

// update folds in one delay change (ms) of the groups ending at arrival.
func (t *trendline) update(delayDelta, sendDelta float64, arrival int64) {
	if t.n == 0 && t.deltas == 0 {
		t.firstArrival = arrival
	}
	t.deltas = min(t.deltas+1, maxDeltaSamples)
	t.accumulated += delayDelta
	t.smoothed = trendSmoothing*t.smoothed + (1-trendSmoothing)*t.accumulated
	t.samples[t.next] = struct{ x, y float64 }{float64(arrival-t.firstArrival) / 1e6, t.smoothed}
	t.next = (t.next + 1) % trendWindow
	t.n = min(t.n+1, trendWindow)
	trend := t.prevTrend
	if t.n == trendWindow {
		trend = t.slope()
	}
	t.detect(trend, sendDelta, arrival)
}

// slope is the least-squares slope of the samples.
func (t *trendline) slope() float64 {
	var sx, sy float64
	for _, s := range t.samples {
		sx += s.x
		sy += s.y
	}
	mx, my := sx/trendWindow, sy/trendWindow
	var num, den float64
	for _, s := range t.samples {
		num += (s.x - mx) * (s.y - my)
		den += (s.x - mx) * (s.x - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// detect compares the trend with the threshold, and adapts the threshold.
func (t *trendline) detect(trend, sendDelta float64, arrival int64) {
	modified := math.Min(float64(t.deltas), maxDeltaSamples) * trend * trendGain
	switch {
	case modified > t.threshold:
		if t.overusing < 0 {
			t.overusing = sendDelta / 2
		} else {
			t.overusing += sendDelta
		}
		t.overuseCount++
		if t.overusing > overuseTime && t.overuseCount > 1 && trend >= t.prevTrend {
			t.overusing, t.overuseCount = 0, 0
			t.state = usageOver
		}
	case modified < -t.threshold:
		t.overusing, t.overuseCount = -1, 0
		t.state = usageUnder
	default:
		t.overusing, t.overuseCount = -1, 0
		t.state = usageNormal
	}
	t.prevTrend = trend
	t.adapt(modified, arrival)
}

// adapt moves the threshold towards the trend: up slowly, down faster, so that a trend that
// stays high (a path with much jitter) stops counting as overuse, and a low one makes the
// detector sensitive.
func (t *trendline) adapt(modified float64, arrival int64) {
	if !t.haveThreshTime {
		t.lastThreshold, t.haveThreshTime = arrival, true
	}
	abs := math.Abs(modified)
	if abs > t.threshold+15 {
		t.lastThreshold = arrival // a spike: do not follow it
		return
	}
	k := thresholdUp
	if abs < t.threshold {
		k = thresholdDown
	}
	dt := math.Min(float64(arrival-t.lastThreshold)/1e6, 100)
	t.threshold += k * (abs - t.threshold) * dt
	t.threshold = math.Max(thresholdMin, math.Min(thresholdMax, t.threshold))
	t.lastThreshold = arrival
}
