package sfu

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Negotiation of one participant's PeerConnection. All of it runs on the participant's own
// goroutine (run), one step at a time, so the connection never sees two operations at once.
//
// The rules, which docs/protocol.md states for clients:
//   - The client makes the first offer. The server sends no offer before it has answered it.
//   - The server has at most one offer outstanding. Changes that need a new offer while one is out
//     (a member joined, a track ended) are remembered and sent, together, once the answer is in.
//   - Glare: the server is the impolite peer. A client offer that arrives while the server's offer
//     is outstanding is ignored; the polite client rolls back, answers, and offers again.
//   - ICE candidates that arrive before a remote description are queued, then added.

// offerDelay gathers the changes of one moment (a publisher's audio and video arriving a few
// milliseconds apart) into one offer.
const offerDelay = 20 * time.Millisecond

// maxQueuedCandidates bounds the candidates kept for a connection with no remote description.
const maxQueuedCandidates = 64

// run is the participant's negotiation goroutine.
func (p *Participant) run() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.ops.wake:
			for _, f := range p.ops.take() {
				if p.ctx.Err() != nil {
					return
				}
				f()
			}
		}
	}
}

// call runs f on the negotiation goroutine and waits for its result.
func (p *Participant) call(f func() error) error {
	res := make(chan error, 1)
	p.ops.post(func() { res <- f() })
	select {
	case err := <-res:
		return err
	case <-p.ctx.Done():
		return ErrParticipantClosed
	}
}

// HandleOffer applies a client's offer and sends the answer through the Signaller.
func (p *Participant) HandleOffer(sdp string) error {
	return p.call(func() error {
		if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			p.log.Debug("glare: client offer ignored while ours is outstanding")
			return nil
		}
		if err := p.checkOffer(sdp); err != nil {
			return err
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		p.flushCandidates()
		answer, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return fmt.Errorf("%w: create answer: %v", ErrBadSDP, err)
		}
		if err := p.pc.SetLocalDescription(answer); err != nil {
			return fmt.Errorf("%w: set answer: %v", ErrNegotiation, err)
		}
		p.sig.Answer(answer.SDP)
		if !p.answeredFirst {
			p.answeredFirst = true
			deferred := p.deferred
			p.deferred = nil
			for _, d := range deferred {
				p.attach(d)
			}
		}
		p.scheduleOffer()
		return nil
	})
}

// HandleAnswer applies a client's answer to the server's outstanding offer.
func (p *Participant) HandleAnswer(sdp string) error {
	return p.call(func() error {
		if p.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return fmt.Errorf("%w: an answer with no offer outstanding", ErrBadSDP)
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		p.flushCandidates()
		p.scheduleOffer()
		return nil
	})
}

// AddCandidate adds a client's trickled ICE candidate, or queues it until a remote description
// is set.
func (p *Participant) AddCandidate(c webrtc.ICECandidateInit) error {
	if cand := strings.TrimPrefix(c.Candidate, "candidate:"); cand != "" {
		if _, err := ice.UnmarshalCandidate(cand); err != nil {
			return fmt.Errorf("%w: %v", ErrBadCandidate, err)
		}
	}
	return p.call(func() error {
		if p.pc.RemoteDescription() == nil {
			if len(p.candidates) >= maxQueuedCandidates {
				return fmt.Errorf("%w: too many candidates before an offer", ErrBadCandidate)
			}
			p.candidates = append(p.candidates, c)
			return nil
		}
		if err := p.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("%w: %v", ErrBadCandidate, err)
		}
		return nil
	})
}

func (p *Participant) flushCandidates() {
	for _, c := range p.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("queued ICE candidate refused", "err", err)
		}
	}
	p.candidates = nil
}

// scheduleOffer sends an offer soon if one is needed and allowed. It runs on the negotiation
// goroutine.
func (p *Participant) scheduleOffer() {
	if !p.needOffer || p.offerTimer != nil {
		return
	}
	p.offerTimer = time.AfterFunc(offerDelay, func() { p.ops.post(p.offer) })
}

// negotiate records that the connection's tracks changed and an offer must tell the client.
func (p *Participant) negotiate() {
	p.needOffer = true
	p.scheduleOffer()
}

func (p *Participant) offer() {
	p.offerTimer = nil
	if !p.needOffer || !p.answeredFirst || p.pc.SignalingState() != webrtc.SignalingStateStable {
		return // HandleOffer or HandleAnswer schedules it again when the connection is stable
	}
	p.needOffer = false
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.server.totals.negotiationFailures.Add(1)
		p.fail(fmt.Errorf("%w: %v", ErrNegotiation, err))
		return
	}
	p.sig.Offer(offer.SDP)
}

// attach adds a DownTrack to the connection; it runs on the negotiation goroutine.
func (p *Participant) attach(d *DownTrack) {
	if !p.answeredFirst {
		p.deferred = append(p.deferred, d)
		return
	}
	tr, err := p.pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.log.Warn("cannot add track", "track", d.up.id, "err", err)
		return
	}
	// The server names its m-lines "s0", "s1", ...: browsers number theirs, so a client that rolls
	// back an offer in glare can never have picked the same mid as the server's offer.
	if err := tr.SetMid("s" + itoa(p.nextMid)); err != nil {
		p.log.Warn("cannot set mid", "err", err)
	}
	p.nextMid++
	if prefs := codecPreferences(d.up.codec); prefs != nil {
		if err := tr.SetCodecPreferences(prefs); err != nil {
			p.log.Debug("codec preferences", "err", err)
		}
	}
	d.sender = tr.Sender()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.readRTCP(d.sender)
	}()
	p.negotiate()
}

// detach removes a DownTrack from the connection; it runs on the negotiation goroutine.
func (p *Participant) detach(d *DownTrack) {
	for i, o := range p.deferred {
		if o == d {
			p.deferred = append(p.deferred[:i], p.deferred[i+1:]...)
			return
		}
	}
	if d.sender == nil {
		return
	}
	if err := p.pc.RemoveTrack(d.sender); err != nil {
		p.log.Debug("remove track", "track", d.up.id, "err", err)
		return
	}
	p.negotiate()
}
