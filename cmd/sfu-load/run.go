package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/token"
)

// A run: the clients join over the ramp, publishers first; once every join has returned, the
// measured window starts and lasts the duration; then the publishers stop, the clients read on
// for drainTime (packets in flight, and their repairs, still count), and everyone leaves.
//
// Loss and tracks are counted over the whole run, each track at each client from its first
// packet. Rates, latency and CPU are over the window.

// config is a run's settings (main.go's flags).
type config struct {
	URL              string
	Rooms            int
	Publishers       int // per room
	Subscribers      int // per room
	Duration         time.Duration
	Ramp             time.Duration
	VideoBitrate     int // bit/s; 0: no video
	Audio            bool
	KeyframeInterval time.Duration
	JoinTimeout      time.Duration
	APIKeys          token.Keys // mint a token per client when set
	ServerPID        int
	MaxLoss          float64 // percent
	JSON             bool
	RoomPrefix       string
	Progress         time.Duration // 0: no progress lines
}

// drainTime is how long clients read after the publishers stop.
const drainTime = time.Second

// run runs the load test and prints the report on stdout (JSON with cfg.JSON, else a table),
// progress lines on stderr.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (*Report, error) {
	stderr = &lockedWriter{w: stderr} // errors and progress come from several goroutines
	loopback := isLoopback(cfg.URL)
	api, err := newAPI(loopback)
	if err != nil {
		return nil, fmt.Errorf("pion: %w", err)
	}
	parts, err := plan(cfg)
	if err != nil {
		return nil, err
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	for _, p := range parts {
		p.sendCtx = sendCtx
	}

	var errorLines atomic.Int32
	logErr := func(format string, args ...any) {
		if n := errorLines.Add(1); n <= maxErrorLines {
			fmt.Fprintf(stderr, "sfu-load: "+format+"\n", args...)
		} else if n == maxErrorLines+1 {
			fmt.Fprintf(stderr, "sfu-load: more errors, not shown\n")
		}
	}
	jc := joinConfig{api: api, url: cfg.URL, timeout: cfg.JoinTimeout, onError: func(p *participant, m signal.Message) {
		logErr("%s: server error %s: %s", p.name, m.Code, m.Message)
	}}

	start := time.Now()
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress(cfg, parts, start, stderr, stopProgress)
	}()

	var joins sync.WaitGroup
	for i, p := range parts {
		joins.Add(1)
		go func() {
			defer joins.Done()
			if !sleep(ctx, cfg.Ramp*time.Duration(i)/time.Duration(len(parts))) {
				return
			}
			if err := p.join(ctx, jc); err != nil {
				logErr("%s: %v", p.name, err)
			}
		}()
	}
	joins.Wait()

	before := snapshot(cfg, parts)
	sleep(ctx, cfg.Duration)
	after := snapshot(cfg, parts)

	stopSending()
	for _, p := range parts {
		p.waitSending()
	}
	if ctx.Err() == nil {
		time.Sleep(drainTime)
	}
	close(stopProgress)
	<-progressDone
	rep := report(cfg, parts, before, after)
	if !loopback {
		rep.LatencyNote = "the server is not on a loopback address: latency is the round trip tester -> server -> tester (one clock, two network paths)"
	}

	var leaving sync.WaitGroup
	for _, p := range parts {
		leaving.Add(1)
		go func() { defer leaving.Done(); p.leave() }()
	}
	leaving.Wait()

	if cfg.JSON {
		if err := rep.writeJSON(stdout); err != nil {
			return rep, err
		}
		return rep, rep.writeTable(stderr)
	}
	return rep, rep.writeTable(stdout)
}

// maxErrorLines bounds the error lines a run prints.
const maxErrorLines = 20

// plan makes the participants: every room's publishers, then every room's subscribers, in
// the order they join.
func plan(cfg config) ([]*participant, error) {
	id := make([]byte, 3)
	_, _ = rand.Read(id)
	run := hex.EncodeToString(id)
	var pubs, subs []*participant
	var index uint32
	perPublisher := 0
	if cfg.VideoBitrate > 0 {
		perPublisher++
	}
	if cfg.Audio {
		perPublisher++
	}
	for r := range cfg.Rooms {
		room := fmt.Sprintf("%s-%s-%d", cfg.RoomPrefix, run, r)
		for i := range cfg.Publishers {
			p := &participant{name: fmt.Sprintf("pub-%d-%d", r, i), room: room, streams: map[uint32]*stream{},
				wantTracks: (cfg.Publishers - 1) * perPublisher}
			if cfg.VideoBitrate > 0 {
				t, err := newVideoTrack(p.name, index, cfg.VideoBitrate, cfg.KeyframeInterval)
				if err != nil {
					return nil, err
				}
				p.tracks = append(p.tracks, t)
				index++
			}
			if cfg.Audio {
				t, err := newAudioTrack(p.name, index)
				if err != nil {
					return nil, err
				}
				p.tracks = append(p.tracks, t)
				index++
			}
			pubs = append(pubs, p)
		}
		for i := range cfg.Subscribers {
			subs = append(subs, &participant{name: fmt.Sprintf("sub-%d-%d", r, i), room: room, streams: map[uint32]*stream{},
				wantTracks: cfg.Publishers * perPublisher})
		}
	}
	parts := append(pubs, subs...)
	if len(cfg.APIKeys) > 0 {
		keys := make([]string, 0, len(cfg.APIKeys))
		for k := range cfg.APIKeys {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ttl := cfg.Ramp + cfg.Duration + time.Hour
		for _, p := range parts {
			tok, err := cfg.APIKeys.Mint(keys[0], token.Grant{Room: p.room, Identity: p.name, Name: p.name,
				CanPublish: len(p.tracks) > 0, CanSubscribe: true, CanPublishData: true}, ttl)
			if err != nil {
				return nil, fmt.Errorf("token: %w", err)
			}
			p.token = tok
		}
	}
	return parts, nil
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sample is the run's counters at one moment.
type sample struct {
	at                     time.Time
	sentPackets, sentBytes uint64
	recv                   streamTotals
	latency                counts
	joined                 int
	server                 procSample
	serverErr              error
	tester                 procSample
}

func snapshot(cfg config, parts []*participant) *sample {
	s := &sample{at: time.Now()}
	for _, p := range parts {
		for _, t := range p.tracks {
			s.sentPackets += t.sentPackets.Load()
			s.sentBytes += t.sentBytes.Load()
		}
		p.received(&s.recv)
		s.latency.addFrom(&p.latency)
		if p.joined() {
			s.joined++
		}
	}
	if cfg.ServerPID > 0 {
		s.server, s.serverErr = readProc(cfg.ServerPID)
	}
	s.tester, _ = readProc(os.Getpid())
	return s
}

// lockedWriter serialises writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
