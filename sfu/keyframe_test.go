package sfu

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyframeRequesterCoalesces(t *testing.T) {
	var sent atomic.Int32
	k := newKeyframeRequester(200*time.Millisecond, func() { sent.Add(1) })
	defer k.close()
	for i := 0; i < 50; i++ {
		k.request()
	}
	if n := sent.Load(); n != 1 {
		t.Fatalf("50 requests at once sent %d, want 1 now and 1 deferred", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := sent.Load(); n != 2 {
		t.Fatalf("after the interval: %d sent, want 2", n)
	}
}

func TestKeyframeRequesterCancelledByKeyframe(t *testing.T) {
	var sent atomic.Int32
	k := newKeyframeRequester(100*time.Millisecond, func() { sent.Add(1) })
	defer k.close()
	k.request()
	k.request() // deferred
	k.keyframeArrived()
	time.Sleep(200 * time.Millisecond)
	if n := sent.Load(); n != 1 {
		t.Fatalf("a keyframe arrived before the deferred request: %d sent, want 1", n)
	}
	k.request()
	if n := sent.Load(); n != 2 {
		t.Fatalf("a request after the interval: %d sent, want 2", n)
	}
}
