package sfu

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// RTCP reports (RFC 3550 section 6.4): a sender report for every track the server sends a
// subscriber, which the browser needs to synchronise audio with video and to tell the round-trip
// time, and a receiver report for every stream a publisher sends, which its browser's encoder
// reads loss and round-trip time from.
//
// They are made here rather than by Pion's report interceptors, which run two timers per
// PeerConnection (a wake-up every second for each even when nothing is sent) and take a lock on
// every packet. The figures are kept by the goroutines that already touch every packet (a
// DownTrack's writer, a layer's reader) in atomics, and the server's tick sends the reports
// of a whole room once a second (reportTicks), one compound RTCP packet per participant. A
// track that has sent nothing for two report intervals gets no sender report (RFC 3550 6.4), and
// a stream from which nothing arrived since the last report gets no report block, so an idle
// connection costs no reports at all.

// reportTicks is how many ticks pass between two reports: one second.
const reportTicks = int(time.Second / tick)

// senderClock is a DownTrack's newest outgoing RTP timestamp and the time it was sent, written by
// the writer for every packet and read by the reporter. Both halves share one atomic word, so a
// report never pairs the timestamp of one packet with the send time of another: the high 32
// bits are the timestamp, the low 32 the send time in units of 2^clockShift ns.
type senderClock struct{ v atomic.Uint64 }

// clockShift sets the resolution of senderClock's send time: 2^14 ns, about 16 us. 32 bits of it
// last 19 hours, far longer than the two report intervals after which a silent track gets no
// sender report.
const clockShift = 14

func (c *senderClock) set(ts uint32, now int64) {
	c.v.Store(uint64(ts)<<32 | uint64(uint32(now>>clockShift)))
}

// at returns the RTP timestamp that the stream's clock shows at now, counting on from the newest
// packet at clockRate.
func (c *senderClock) at(now int64, clockRate uint32) uint32 {
	v := c.v.Load()
	ts, sent := uint32(v>>32), uint32(v)
	elapsed := uint64(uint32(now>>clockShift)-sent) << clockShift // ns, modulo the wrap
	return ts + uint32(elapsed*uint64(clockRate)/1e9)
}

// senderReport is the reporter's memory of one DownTrack: the packet count at the last report,
// and how many reports ago it last changed. Owned by the tick.
type senderReport struct {
	packets uint64
	idle    int
}

// report returns the track's sender report, or nil when it has sent nothing since the report
// before last, or is not bound.
func (d *DownTrack) report(now time.Time, mono int64) *rtcp.SenderReport {
	b := d.bound.Load()
	packets := d.stats.packets.Load()
	if packets != d.sr.packets {
		d.sr.packets, d.sr.idle = packets, 0
	} else {
		d.sr.idle++
	}
	if b == nil || packets == 0 || d.sr.idle >= 2 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     d.clock.at(mono, d.up.codec.ClockRate),
		PacketCount: uint32(packets),
		OctetCount:  uint32(d.stats.bytes.Load()),
	}
}

// reception is what a layer's reader learns of its stream for receiver reports: the extended
// highest sequence number, the packets received and the interarrival jitter (RFC 3550 A.1, A.3,
// A.8). The reader writes the atomics; the reporter reads them and keeps the rest.
type reception struct {
	// Owned by the reader.
	started     bool
	cycles      uint32 // sequence number wraps, times 2^16
	maxSeq      uint16
	lastTransit int64 // arrival minus RTP timestamp, in RTP units
	jitter      int64 // times 16, in RTP units (the integer form of A.8)

	highest  atomic.Uint32 // extended highest sequence number received
	received atomic.Uint32
	jitterTS atomic.Uint32 // jitter in RTP units
	firstSeq atomic.Uint32 // the first sequence number: expected packets count from it
	srNTP    atomic.Uint32 // middle 32 bits of the NTP time of the last sender report, 0 if none
	srAt     atomic.Int64  // nanotime when it arrived

	// Owned by the reporter.
	priorExpected uint32
	priorReceived uint32
}

// arrived records a packet with sequence number seq and RTP timestamp ts, arriving at now
// (nanotime), of a stream whose clock runs at clockRate.
func (r *reception) arrived(seq uint16, ts uint32, now int64, clockRate uint32) {
	if !r.started {
		r.started = true
		r.maxSeq = seq
		r.firstSeq.Store(uint32(seq))
	} else if d := seq - r.maxSeq; d > 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
	r.highest.Store(r.cycles | uint32(r.maxSeq))
	r.received.Add(1)

	arrival := now / 1000 * int64(clockRate) / 1e6 // RTP units; overflows after years
	transit := arrival - int64(ts)
	if r.lastTransit != 0 {
		d := transit - r.lastTransit
		if d < 0 {
			d = -d
		}
		if d < int64(clockRate)*10 { // a jump of the sender's clock is not jitter
			r.jitter += d - (r.jitter+8)>>4
			r.jitterTS.Store(uint32(r.jitter >> 4))
		}
	}
	r.lastTransit = transit
}

// senderReport records the publisher's sender report for the stream, which the next receiver
// report echoes so that the publisher can tell the round-trip time.
func (r *reception) senderReport(ntp uint64, now int64) {
	r.srNTP.Store(uint32(ntp >> 16))
	r.srAt.Store(now)
}

// block returns the stream's report block, or false when nothing arrived since the last report.
func (r *reception) block(ssrc uint32, now int64) (rtcp.ReceptionReport, bool) {
	received := r.received.Load()
	if received == r.priorReceived {
		return rtcp.ReceptionReport{}, false
	}
	highest := r.highest.Load()
	expected := highest - r.firstSeq.Load() + 1
	lost := int64(expected) - int64(received) // duplicates may make it negative
	lost = min(max(lost, -(1<<23)), 1<<23-1)
	var fraction uint8
	if dExp, dRecv := expected-r.priorExpected, received-r.priorReceived; dExp > dRecv && dExp > 0 {
		fraction = uint8((uint64(dExp-dRecv) << 8) / uint64(dExp))
	}
	r.priorExpected, r.priorReceived = expected, received
	b := rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xffffff,
		LastSequenceNumber: highest,
		Jitter:             r.jitterTS.Load(),
	}
	if lsr := r.srNTP.Load(); lsr != 0 {
		b.LastSenderReport = lsr
		b.Delay = uint32(max(now-r.srAt.Load(), 0) * 65536 / int64(time.Second))
	}
	return b, true
}

// reportsLocked sends every member of the room its reports. The room's tick calls it with the
// lock held, every reportTicks ticks; the packets are written after the lock is released.
func (r *Room) reportsLocked() []pendingReport {
	now, mono := time.Now(), nanotime()
	var out []pendingReport
	for _, p := range r.participants {
		var pkts []rtcp.Packet
		for _, d := range p.subscribed {
			if sr := d.report(now, mono); sr != nil {
				pkts = append(pkts, sr)
			}
		}
		var blocks []rtcp.ReceptionReport
		for _, up := range p.published {
			for i := range up.layers {
				if l := up.layers[i].Load(); l != nil && l.remote != nil {
					if b, ok := l.recv.block(uint32(l.remote.SSRC()), mono); ok {
						blocks = append(blocks, b)
					}
				}
			}
		}
		for len(blocks) > 0 { // at most 31 blocks in one receiver report
			n := min(len(blocks), 31)
			pkts = append(pkts, &rtcp.ReceiverReport{SSRC: p.reportSSRC, Reports: blocks[:n]})
			blocks = blocks[n:]
		}
		if len(pkts) > 0 {
			out = append(out, pendingReport{pc: p.pc, pkts: pkts})
		}
	}
	return out
}

// pendingReport is one participant's reports, to write outside the room's lock.
type pendingReport struct {
	pc   *webrtc.PeerConnection
	pkts []rtcp.Packet
}

func sendReports(reports []pendingReport) {
	for _, rep := range reports {
		_ = rep.pc.WriteRTCP(rep.pkts) // fails only when the connection is closing
	}
}

// newReportSSRC is the SSRC a participant's receiver reports come from: the server sends no
// media from it, so any random value not zero will do.
func newReportSSRC() uint32 { return rand.Uint32() | 1 }
