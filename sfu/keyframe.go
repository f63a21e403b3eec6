package sfu

import (
	"sync"
	"time"
)

// keyframeRequester coalesces the keyframe requests of all subscribers of one published track into
// at most one request to the publisher per interval. Subscribers ask when they start, when they
// dropped video, and when they send PLI or FIR; asking on a timer (Pion's intervalpli) or once per
// subscriber both make video blurry for everyone. A request inside the interval is remembered and
// sent when the interval ends, unless a keyframe arrived in the meantime.
type keyframeRequester struct {
	interval time.Duration
	send     func() // sends the PLI; called without the lock held

	mu      sync.Mutex
	last    time.Time
	pending *time.Timer
	closed  bool
}

func newKeyframeRequester(interval time.Duration, send func()) *keyframeRequester {
	return &keyframeRequester{interval: interval, send: send}
}

// request asks for a keyframe.
func (k *keyframeRequester) request() {
	k.mu.Lock()
	if k.closed || k.pending != nil {
		k.mu.Unlock()
		return
	}
	wait := k.interval - time.Since(k.last)
	if wait <= 0 {
		k.last = time.Now()
		k.mu.Unlock()
		k.send()
		return
	}
	k.pending = time.AfterFunc(wait, k.fire)
	k.mu.Unlock()
}

func (k *keyframeRequester) fire() {
	k.mu.Lock()
	if k.closed || k.pending == nil {
		k.mu.Unlock()
		return
	}
	k.pending = nil
	k.last = time.Now()
	k.mu.Unlock()
	k.send()
}

// keyframeArrived cancels a request still waiting for its interval: the keyframe it wanted came.
func (k *keyframeRequester) keyframeArrived() {
	k.mu.Lock()
	if k.pending != nil {
		k.pending.Stop()
		k.pending = nil
	}
	k.mu.Unlock()
}

func (k *keyframeRequester) close() {
	k.mu.Lock()
	k.closed = true
	if k.pending != nil {
		k.pending.Stop()
		k.pending = nil
	}
	k.mu.Unlock()
}
