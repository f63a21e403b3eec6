package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/signal"
	"github.com/sfu-project/sfu/signal/client"
)

// participant is one client of the load test: a publisher (synthetic audio and video, and
// everything the other publishers of its room send) or a subscriber (receives only).
type participant struct {
	name, room string
	token      string
	tracks     []*synthTrack // published
	wantTracks int           // remote tracks it should receive

	// joinStart is set before Join; the callbacks that read it run after.
	joinStart  time.Time
	connected  atomic.Int64 // time from the Join call to a connected PeerConnection; 0 before
	firstMedia atomic.Int64 // time from the Join call to the first media packet; 0 before
	failed     atomic.Bool  // the PeerConnection failed
	latency    histogram
	unmarked   atomic.Uint64 // packets without a mark (padding, say)

	sendCtx context.Context // the publishers' sending time
	sendWG  sync.WaitGroup
	readers sync.WaitGroup

	mu      sync.Mutex
	client  *client.Client
	joinErr error
	streams map[uint32]*stream
	sending bool
	stopped bool // no sending starts
	closing bool // no track reader starts
}

// joinConfig is what every participant's join shares.
type joinConfig struct {
	api     *webrtc.API
	url     string
	timeout time.Duration
	onError func(p *participant, m signal.Message)
}

// join joins the room. The publisher's tracks start sending once the PeerConnection connects.
func (p *participant) join(ctx context.Context, jc joinConfig) error {
	cfg := client.Config{
		URL: jc.url, Room: p.room, Name: p.name, Token: p.token, API: jc.api,
		OnTrack: p.onTrack, OnConnectionState: p.onState,
	}
	for _, t := range p.tracks {
		cfg.Publish = append(cfg.Publish, t)
	}
	if len(p.tracks) > 0 {
		cfg.OnRTCP = p.onRTCP
	}
	jctx, cancel := context.WithTimeout(ctx, jc.timeout)
	defer cancel()
	p.joinStart = time.Now()
	c, err := client.Join(jctx, cfg)
	p.mu.Lock()
	p.client, p.joinErr = c, err
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if jc.onError != nil {
		go func() {
			for {
				select {
				case m := <-c.Events:
					if m.Type == signal.TypeError {
						jc.onError(p, m)
					}
				case <-c.Done():
					return
				}
			}
		}()
	}
	return nil
}

func (p *participant) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.connected.CompareAndSwap(0, int64(time.Since(p.joinStart)))
		p.startSending()
	case webrtc.PeerConnectionStateFailed:
		p.failed.Store(true)
	}
}

func (p *participant) startSending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sending || p.stopped || p.sendCtx.Err() != nil {
		return
	}
	p.sending = true
	for _, t := range p.tracks {
		p.sendWG.Add(1)
		go func() { defer p.sendWG.Done(); t.run(p.sendCtx) }()
	}
}

// waitSending waits for the sending goroutines, once sendCtx has ended.
func (p *participant) waitSending() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.sendWG.Wait()
}

func (p *participant) onRTCP(sender *webrtc.RTPSender, pkts []rtcp.Packet) {
	tr := client.Unwrap(sender.Track())
	for _, t := range p.tracks {
		if tr == webrtc.TrackLocal(t) {
			t.onRTCP(pkts)
		}
	}
}

// joined reports whether the join succeeded.
func (p *participant) joined() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client != nil
}

// dropped reports whether the server closed the signaling connection.
func (p *participant) dropped() bool {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c == nil {
		return false
	}
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// leave says goodbye and waits for the track readers.
func (p *participant) leave() {
	p.mu.Lock()
	p.closing = true
	c := p.client
	p.mu.Unlock()
	if c != nil {
		// Leave, and let the server close the socket (client.Leave closes at once, and the
		// server would often see the socket drop before the leave).
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		if c.Send(ctx, signal.Message{Type: signal.TypeLeave}) == nil {
			select {
			case <-c.Done():
			case <-ctx.Done():
			}
		}
		cancel()
		c.Close()
	}
	p.readers.Wait()
}

// leaveTimeout bounds the wait for the server to close after a leave.
const leaveTimeout = 2 * time.Second
