package sfu

import (
	"testing"
	"time"
)

func TestSequencerResendLimits(t *testing.T) {
	s := newSequencer(sequencerSize)
	ms := int64(time.Millisecond)
	s.sent(seqEntry{outSeq: 100, inSeq: 5000, outTS: 90000})
	now := int64(0)
	for i := 1; i <= maxResends; i++ {
		if i > 1 {
			if _, ok := s.resend(100, now+10*ms, resendSpacing(0)); ok {
				t.Fatalf("resend %d allowed 10 ms after the previous one; spacing is 100 ms with no RTT", i)
			}
			now += 100 * ms
		}
		e, ok := s.resend(100, now, resendSpacing(0))
		if !ok {
			t.Fatalf("resend %d refused", i)
		}
		if e.inSeq != 5000 || e.outTS != 90000 {
			t.Fatalf("resend %d maps to %+v", i, e)
		}
	}
	if _, ok := s.resend(100, now+time.Second.Nanoseconds(), resendSpacing(0)); ok {
		t.Fatalf("a fourth resend was allowed; the cap is %d", maxResends)
	}
	if _, ok := s.resend(101, now, 0); ok {
		t.Fatal("resent a packet never sent")
	}
	// The slot is reused by a packet sequencerSize later; the old number must not match it.
	s.sent(seqEntry{outSeq: 100 + sequencerSize, inSeq: 7000})
	if _, ok := s.resend(100, now+time.Second.Nanoseconds(), 0); ok {
		t.Fatal("an overwritten entry answered for an old sequence number")
	}
}

func TestResendSpacing(t *testing.T) {
	for _, c := range []struct{ rtt, want time.Duration }{
		{0, 100 * time.Millisecond},
		{10 * time.Millisecond, 20 * time.Millisecond},
		{49 * time.Millisecond, 98 * time.Millisecond},
		{80 * time.Millisecond, 100 * time.Millisecond},
	} {
		if got := resendSpacing(c.rtt); got != c.want {
			t.Errorf("resendSpacing(%v) = %v, want %v", c.rtt, got, c.want)
		}
	}
}
