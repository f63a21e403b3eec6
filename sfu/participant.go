package sfu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sfu-project/sfu/sfu/bwe"
)

// Participant is one member of a room: one PeerConnection that carries everything the member
// publishes and everything it receives.
type Participant struct {
	id       string
	name     string
	identity string      // from the access token, or ""
	perms    Permissions // set before the participant is added to its room
	room     *Room
	server   *Server
	sig      Signaller
	pc       *webrtc.PeerConnection
	log      *slog.Logger

	bwe          *bwe.Estimator // the downlink's estimate, or nil
	reportSSRC   uint32         // the sender SSRC of its receiver reports (reports.go)
	allocScratch []*DownTrack   // reused by allocation, under the room's lock

	infoMu    sync.Mutex
	trackInfo map[string]TrackInfo // what the client said of the tracks it publishes, by track id

	upMu sync.Mutex
	ups  map[*webrtc.RTPReceiver]*UpTrack // the published tracks, by receiver: layers share one

	ctx    context.Context // cancelled when the participant closes
	cancel context.CancelFunc
	ops    *mailbox
	wg     sync.WaitGroup // every goroutine the participant started

	// Owned by the negotiation goroutine (negotiation.go).
	answeredFirst bool
	needOffer     bool
	offerTimer    *time.Timer
	candidates    []webrtc.ICECandidateInit
	deferred      []*DownTrack
	nextMid       int

	// Guarded by the room's lock.
	published  []*UpTrack
	subscribed []*DownTrack
	audioMuted bool
	videoMuted bool

	joinedAt  time.Time
	connected sync.Once
	isUp      atomic.Bool // the PeerConnection has connected once
	connTimer *time.Timer
	closeOnce sync.Once
}

func newParticipant(s *Server, room *Room, name string, sig Signaller) (*Participant, error) {
	pc, bwe, err := s.newPeerConnection()
	if err != nil {
		return nil, fmt.Errorf("sfu: new peer connection: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Participant{
		id:         newID(),
		name:       name,
		room:       room,
		server:     s,
		sig:        sig,
		pc:         pc,
		bwe:        bwe,
		reportSSRC: newReportSSRC(),
		ups:        map[*webrtc.RTPReceiver]*UpTrack{},
		ctx:        ctx,
		cancel:     cancel,
		ops:        newMailbox(),
		joinedAt:   time.Now(),
	}
	p.log = s.cfg.logger.With("room", room.name, "participant", p.id)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			sig.Candidate(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("connection state", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connected.Do(func() {
				p.isUp.Store(true)
				s.observeJoin(time.Since(p.joinedAt))
			})
		case webrtc.PeerConnectionStateFailed:
			s.totals.connectionFailures.Add(1)
			go p.fail(ErrConnectionFailed)
		}
	})
	pc.OnTrack(p.onTrack)
	p.connTimer = time.AfterFunc(s.cfg.connectTimeout, func() {
		if !p.isUp.Load() {
			p.fail(ErrConnectTimeout)
		}
	})
	p.wg.Add(1)
	go p.run()
	return p, nil
}

// ID is the participant's id, unique on the server; it is also the stream id of its tracks.
func (p *Participant) ID() string { return p.id }

// Name is the display name the client chose.
func (p *Participant) Name() string { return p.name }

// Room is the room the participant is in.
func (p *Participant) Room() *Room { return p.room }

// info must be called with the room's lock held.
func (p *Participant) info() ParticipantInfo {
	return ParticipantInfo{ID: p.id, Name: p.name, Identity: p.identity, AudioMuted: p.audioMuted, VideoMuted: p.videoMuted}
}

// onTrack runs on Pion's goroutine when the client starts sending a stream: a track, or one
// layer of a simulcast track (each layer's stream comes on its own, all on one receiver).
func (p *Participant) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.upMu.Lock()
	up := p.ups[receiver]
	first := up == nil
	if first {
		up = newUpTrack(p, remote, receiver, p.describedTrack(remote.ID()))
		p.ups[receiver] = up
	}
	p.upMu.Unlock()
	var l *layer
	if p.perms.Publish { // checkOffer refused the offer before; this is for certain
		l = up.addLayer(remote)
	}
	if l == nil {
		up.log.Warn("stream ignored: not a negotiated layer", "rid", remote.RID())
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			drain(remote) // unread, it would hold up the connection's other streams
		}()
		return
	}
	up.running.Add(1)
	if first {
		if !p.room.publish(up) {
			return // the participant left meanwhile; closing its connection ends the track
		}
		up.log.Info("track published", "source", string(up.source), "simulcast", up.simulcast)
	}
	up.log.Debug("layer arrived", "rid", l.rid, "layer", l.index)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		up.readLoop(l)
		if up.running.Add(-1) == 0 { // the client removed the track, or the connection closed
			p.room.unpublish(up)
			p.upMu.Lock()
			delete(p.ups, receiver)
			p.upMu.Unlock()
		}
	}()
	go func() {
		defer p.wg.Done()
		up.readRTCP(l)
	}()
}

// drain reads a stream that is not forwarded until it ends.
func drain(remote *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := remote.Read(buf); err != nil {
			return
		}
	}
}

// subscribe makes the participant receive up. The room calls it with its lock held.
func (p *Participant) subscribe(up *UpTrack) {
	d := newDownTrack(up, p, p.server.cfg.queueLen)
	p.subscribed = append(p.subscribed, d)
	up.addDown(d)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.run()
	}()
	p.ops.post(func() { p.attach(d) })
}

// unsubscribe stops d, the participant's copy of a track that ended. The room calls it with its
// lock held.
func (p *Participant) unsubscribe(d *DownTrack) {
	for i, o := range p.subscribed {
		if o == d {
			p.subscribed = append(p.subscribed[:i], p.subscribed[i+1:]...)
			break
		}
	}
	d.up.removeDown(d)
	d.close() // now, not in detach: the negotiation goroutine may already be gone
	p.server.totals.retireDown(&d.stats)
	p.ops.post(func() { p.detach(d) })
}

// SetMuted records what the participant has muted and tells the room.
func (p *Participant) SetMuted(audio, video bool) {
	p.room.setMuted(p, audio, video)
}

// Close removes the participant from its room, closes its connection, and waits for all its
// goroutines to end. It is safe to call more than once and from any goroutine but its own
// callbacks.
func (p *Participant) Close() { p.Leave("closed") }

// Leave is Close, with the reason to log (the client said goodbye, its socket broke, ...).
func (p *Participant) Leave(reason string) {
	p.closeOnce.Do(func() {
		p.connTimer.Stop()
		p.room.leave(p)
		p.cancel()
		if err := p.pc.Close(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		p.wg.Wait()
		p.log.Info("participant left", "reason", reason, "after", time.Since(p.joinedAt).Round(time.Millisecond).String())
	})
}

// fail ends the participant on the core's own account and tells the client why.
func (p *Participant) fail(err error) {
	if p.ctx.Err() != nil {
		return
	}
	p.log.Warn("participant failed", "err", err)
	p.sig.Closed(err)
	go p.Leave(err.Error()) // not inline: fail may run on the negotiation goroutine, which Leave waits for
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
