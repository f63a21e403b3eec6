package sfu

import (
	"strconv"
	"time"
)

// processStart anchors nanotime: time.Since on a monotonic time.Time needs no allocation and no
// wall-clock reading.
var processStart = time.Now()

// nanotime is a monotonic clock in nanoseconds, for the per-packet path.
func nanotime() int64 { return int64(time.Since(processStart)) }

// ntpMiddle is the middle 32 bits of the NTP timestamp of t, the unit of RTCP's LSR and DLSR.
func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }

// ntpTime is t as a 64-bit NTP timestamp: seconds since 1900 and a binary fraction.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func itoa(i int) string { return strconv.Itoa(i) }
