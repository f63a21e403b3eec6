package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run: printed as a table, or as JSON with --json. Durations are in
// milliseconds, rates per second; -1 means "not measured" (no sample).
type Report struct {
	URL          string  `json:"url"`
	Rooms        int     `json:"rooms"`
	Publishers   int     `json:"publishers_per_room"`
	Subscribers  int     `json:"subscribers_per_room"`
	VideoBitrate int     `json:"video_bitrate"`
	Audio        bool    `json:"audio"`
	WindowSec    float64 `json:"window_seconds"` // the measured window: from all joins done to the end

	Clients struct {
		Planned int `json:"planned"`
		Joined  int `json:"joined"`
		Failed  int `json:"failed"`  // Join returned an error
		Dropped int `json:"dropped"` // the server closed the connection, or the PeerConnection failed
	} `json:"clients"`

	// JoinConnected: from the Join call to a connected PeerConnection, every client.
	JoinConnected Percentiles `json:"join_to_connected_ms"`
	// JoinFirstMedia: from the Join call to the first media packet received, every client
	// that receives something.
	JoinFirstMedia Percentiles `json:"join_to_first_media_ms"`

	Tracks struct {
		Expected int `json:"expected"` // a track received by one client counts once
		Received int `json:"received"`
		Missing  int `json:"missing"`
	} `json:"tracks"`

	Packets struct {
		Expected    uint64  `json:"expected"`
		Received    uint64  `json:"received"`
		Lost        uint64  `json:"lost"`
		LossPercent float64 `json:"loss_percent"`
		// SkippedToKeyframe: of the lost, those in gaps that ended at a keyframe: video the
		// server dropped on purpose (downlink estimate, full queue), not lost on the way.
		SkippedToKeyframe uint64 `json:"skipped_to_keyframe"`
		Duplicates        uint64 `json:"duplicates"`
		Unmarked          uint64 `json:"unmarked"` // packets without the load tester's mark (padding, say)
	} `json:"packets"`

	// Latency: from the publisher's send to the subscriber's receive, in this process.
	Latency     Percentiles `json:"latency_ms"`
	LatencyNote string      `json:"latency_note,omitempty"`

	In  Rate `json:"in"`  // sent by the publishers, resends included
	Out Rate `json:"out"` // received by all clients

	Repairs struct {
		NACKed    uint64 `json:"nacked"` // packets the server asked for again
		Resent    uint64 `json:"resent"`
		PLIs      uint64 `json:"plis"`
		Keyframes uint64 `json:"keyframes"`
	} `json:"publisher_repairs"`

	Server *ServerStats `json:"server,omitempty"`
	// TesterCPUPercent is the load tester's own CPU time over the window, in percent of one core.
	TesterCPUPercent float64 `json:"tester_cpu_percent"`

	MaxLoss  float64  `json:"max_loss_percent"`
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
}

// Percentiles of a duration, in milliseconds; N samples.
type Percentiles struct {
	N   uint64  `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95,omitempty"`
	P99 float64 `json:"p99"`
}

// Rate is a bitrate and a packet rate.
type Rate struct {
	BitsPerSecond    float64 `json:"bits_per_second"` // RTP header and payload, before SRTP
	PacketsPerSecond float64 `json:"packets_per_second"`
}

// ServerStats is the server process over the window (--server-pid).
type ServerStats struct {
	PID                   int     `json:"pid"`
	CPUSeconds            float64 `json:"cpu_seconds"`
	CPUPercent            float64 `json:"cpu_percent"` // of one core
	CPUMicrosPerForwarded float64 `json:"cpu_us_per_forwarded_packet"`
	PeakRSSBytes          uint64  `json:"peak_rss_bytes"`
	Error                 string  `json:"error,omitempty"`
}

func ms(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return round3(float64(d) / float64(time.Millisecond))
}

// judge sets Pass and Failures: the loss, and the share of tracks missing, may each be at most
// maxLoss percent.
func (r *Report) judge(maxLoss float64) {
	r.MaxLoss = maxLoss
	r.Failures = nil
	if r.Packets.LossPercent > maxLoss {
		r.Failures = append(r.Failures, fmt.Sprintf("loss %.3f%% > %g%%", r.Packets.LossPercent, maxLoss))
	}
	if r.Tracks.Missing > 0 {
		missing := 100 * float64(r.Tracks.Missing) / float64(r.Tracks.Expected)
		if missing > maxLoss {
			r.Failures = append(r.Failures, fmt.Sprintf("%d of %d tracks missing (%.1f%% > %g%%)", r.Tracks.Missing, r.Tracks.Expected, missing, maxLoss))
		}
	}
	r.Pass = len(r.Failures) == 0
}

// exitCode is the process's exit status for a run: 0 if it passed, 1 if it failed or could not
// run. (2, bad flags, is decided before.)
func exitCode(r *Report, err error) int {
	if err != nil || r == nil || !r.Pass {
		return 1
	}
	return 0
}

func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// round3 keeps 3 decimals, enough for the JSON.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func fmtMs(v float64) string {
	switch {
	case v < 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func fmtBits(bps float64) string {
	switch {
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	default:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
}

func (p Percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	s := "p50 " + fmtMs(p.P50)
	if p.P95 != 0 {
		s += "   p95 " + fmtMs(p.P95)
	}
	return s + "   p99 " + fmtMs(p.P99) + fmt.Sprintf("   (n=%d)", p.N)
}

// writeTable prints the report for people.
func (r *Report) writeTable(w io.Writer) error {
	media := "audio only"
	if r.VideoBitrate > 0 {
		media = "video " + fmtBits(float64(r.VideoBitrate))
		if r.Audio {
			media += " + audio"
		}
	}
	fmt.Fprintf(w, "sfu-load %s: %s x (%s + %s), %s, measured %.1f s\n\n", r.URL, plural(r.Rooms, "room"),
		plural(r.Publishers, "publisher"), plural(r.Subscribers, "subscriber"), media, r.WindowSec)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	c := r.Clients
	row("clients", "%d joined of %d (%d failed to join, %d dropped)", c.Joined, c.Planned, c.Failed, c.Dropped)
	row("join to connected", "%s  (Join call to PeerConnection connected)", r.JoinConnected)
	row("join to first media", "%s  (Join call to first media packet, clients that receive)", r.JoinFirstMedia)
	row("tracks", "%d received of %d expected (%d missing; one track at one client counts once)", r.Tracks.Received, r.Tracks.Expected, r.Tracks.Missing)
	p := r.Packets
	row("packets", "%d expected, %d received, %d lost (%.3f%%), %d duplicates", p.Expected, p.Received, p.Lost, p.LossPercent, p.Duplicates)
	if p.Unmarked > 0 {
		row("", "%d packets without a mark (not counted above)", p.Unmarked)
	}
	if p.SkippedToKeyframe > 0 {
		row("", "of the lost, %d in gaps that ended at a keyframe: video the server dropped (downlink estimate or full queue)", p.SkippedToKeyframe)
	}
	row("latency", "%s  (publisher send to client receive, over the window)", r.Latency)
	if r.LatencyNote != "" {
		row("", "%s", r.LatencyNote)
	}
	row("bitrate in", "%s, %.0f packets/s  (sent by publishers)", fmtBits(r.In.BitsPerSecond), r.In.PacketsPerSecond)
	row("bitrate out", "%s, %.0f packets/s  (received by all clients)", fmtBits(r.Out.BitsPerSecond), r.Out.PacketsPerSecond)
	pr := r.Repairs
	row("publisher repairs", "%d packets NACKed, %d resent, %d PLIs, %d keyframes", pr.NACKed, pr.Resent, pr.PLIs, pr.Keyframes)
	if s := r.Server; s != nil {
		if s.Error != "" {
			row("server", "pid %d: %s", s.PID, s.Error)
		} else {
			row("server CPU", "%.2f s (%.0f%% of one core), %.1f us per forwarded packet  (pid %d)", s.CPUSeconds, s.CPUPercent, s.CPUMicrosPerForwarded, s.PID)
			row("server peak RSS", "%.1f MiB  (VmHWM)", float64(s.PeakRSSBytes)/(1<<20))
		}
	}
	row("load tester CPU", "%.0f%% of one core", r.TesterCPUPercent)
	if r.Pass {
		row("result", "PASS (loss and missing tracks within %g%%)", r.MaxLoss)
	} else {
		row("result", "FAIL: %s", strings.Join(r.Failures, "; "))
	}
	return tw.Flush()
}

// report makes the run's report from its participants and the window's two samples.
func report(cfg config, parts []*participant, before, after *sample) *Report {
	r := &Report{URL: cfg.URL, Rooms: cfg.Rooms, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers,
		VideoBitrate: cfg.VideoBitrate, Audio: cfg.Audio}
	window := after.at.Sub(before.at).Seconds()
	r.WindowSec = round3(window)
	r.Clients.Planned = len(parts)

	var connected, firstMedia []time.Duration
	var final streamTotals
	for _, p := range parts {
		r.Tracks.Expected += p.wantTracks
		if p.joined() {
			r.Clients.Joined++
		} else {
			r.Clients.Failed++
		}
		if p.dropped() || p.failed.Load() {
			r.Clients.Dropped++
		}
		if d := p.connected.Load(); d > 0 {
			connected = append(connected, time.Duration(d))
		}
		if d := p.firstMedia.Load(); d > 0 {
			firstMedia = append(firstMedia, time.Duration(d))
		}
		p.received(&final)
		r.Packets.Unmarked += p.unmarked.Load()
		for _, t := range p.tracks {
			r.Repairs.NACKed += t.nacked.Load()
			r.Repairs.Resent += t.resent.Load()
			r.Repairs.PLIs += t.plis.Load()
			r.Repairs.Keyframes += t.keyframes.Load()
		}
	}
	r.JoinConnected = samplePercentiles(connected)
	r.JoinFirstMedia = samplePercentiles(firstMedia)
	r.Tracks.Received = final.streams
	r.Tracks.Missing = max(r.Tracks.Expected-final.streams, 0)
	r.Packets.Expected, r.Packets.Received, r.Packets.Lost = final.expected, final.received, final.lost
	r.Packets.Duplicates, r.Packets.SkippedToKeyframe = final.duplicates, final.skipped
	if final.expected > 0 {
		r.Packets.LossPercent = round3(100 * float64(final.lost) / float64(final.expected))
	}

	lat := after.latency.since(&before.latency)
	r.Latency = Percentiles{N: lat.total(), P50: ms(lat.quantile(0.5)), P99: ms(lat.quantile(0.99))}
	if window > 0 {
		r.In = Rate{BitsPerSecond: round3(8 * float64(after.sentBytes-before.sentBytes) / window),
			PacketsPerSecond: round3(float64(after.sentPackets-before.sentPackets) / window)}
		forwarded := after.recv.packets - before.recv.packets
		r.Out = Rate{BitsPerSecond: round3(8 * float64(after.recv.bytes-before.recv.bytes) / window),
			PacketsPerSecond: round3(float64(forwarded) / window)}
		r.TesterCPUPercent = round3(100 * (after.tester.cpu - before.tester.cpu).Seconds() / window)
		if cfg.ServerPID > 0 {
			s := &ServerStats{PID: cfg.ServerPID}
			if err := cmpErr(before.serverErr, after.serverErr); err != nil {
				s.Error = err.Error()
			} else {
				cpu := (after.server.cpu - before.server.cpu).Seconds()
				s.CPUSeconds = round3(cpu)
				s.CPUPercent = round3(100 * cpu / window)
				if forwarded > 0 {
					s.CPUMicrosPerForwarded = round3(cpu * 1e6 / float64(forwarded))
				}
				s.PeakRSSBytes = after.server.peakRSS
			}
			r.Server = s
		}
	}
	r.judge(cfg.MaxLoss)
	return r
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func samplePercentiles(xs []time.Duration) Percentiles {
	s := sortedCopy(xs)
	return Percentiles{N: uint64(len(s)), P50: ms(percentile(s, 0.5)), P95: ms(percentile(s, 0.95)), P99: ms(percentile(s, 0.99))}
}
