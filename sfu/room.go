package sfu

import (
	"slices"
	"sync"
)

// Room is a set of participants that receive each other's tracks. Its lock guards membership,
// who publishes what, and who receives what; media never takes it.
type Room struct {
	name   string
	server *Server

	mu           sync.Mutex
	participants []*Participant // in joining order
	closed       bool           // removed from the server; a join must make a new room
	speaker      speakerState
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// Participants returns what the room's members look like to each other, in joining order.
func (r *Room) Participants() []ParticipantInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	infos := make([]ParticipantInfo, len(r.participants))
	for i, p := range r.participants {
		infos[i] = p.info()
	}
	return infos
}

// add makes p a member: it tells p who is there and everyone else that p came, and subscribes p
// to every track already published. It reports false if the room was closed meanwhile, and
// returns the member of p's identity, which the caller must close. A full room refuses p with
// ErrRoomFull (unless p takes the place of its identity's member).
func (r *Room) add(p *Participant) (bool, *Participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, nil, nil
	}
	var replaced *Participant
	if p.identity != "" {
		for _, o := range r.participants {
			if o.identity == p.identity {
				replaced = o
			}
		}
	}
	if max := r.server.cfg.maxParticipants; max > 0 && replaced == nil && len(r.participants) >= max {
		return false, nil, ErrRoomFull
	}
	others := make([]ParticipantInfo, len(r.participants))
	for i, o := range r.participants {
		others[i] = o.info()
	}
	p.sig.Joined(p.info(), others)
	if r.speaker.current != "" {
		p.sig.ActiveSpeaker(r.speaker.current)
	}
	for _, o := range r.participants {
		o.sig.ParticipantJoined(p.info())
		for _, up := range o.published {
			p.sig.TrackPublished(up.describe())
			if p.perms.Subscribe {
				p.subscribe(up)
			}
		}
	}
	r.participants = append(r.participants, p)
	return true, replaced, nil
}

// leave removes p: everyone else is told, p's tracks are taken from their connections, and p's
// subscriptions end.
func (r *Room) leave(p *Participant) {
	r.mu.Lock()
	i := r.index(p)
	if i < 0 {
		r.mu.Unlock()
		return
	}
	r.participants = append(r.participants[:i], r.participants[i+1:]...)
	for _, up := range slices.Clone(p.published) { // unpublishLocked takes each out of the list
		r.unpublishLocked(up)
	}
	for _, d := range p.subscribed {
		d.up.removeDown(d)
		d.close()
		r.server.totals.retireDown(&d.stats)
	}
	wasSpeaker := r.speaker.forget(p.id)
	for _, o := range r.participants {
		o.sig.ParticipantLeft(p.id)
		if wasSpeaker {
			o.sig.ActiveSpeaker("")
		}
	}
	empty := len(r.participants) == 0
	r.mu.Unlock()
	if empty {
		r.server.removeRoom(r)
	}
}

// publish adds up to its publisher's tracks and subscribes every other member to it. It reports
// false if the publisher is no longer a member.
func (r *Room) publish(up *UpTrack) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index(up.publisher) < 0 {
		return false
	}
	up.publisher.published = append(up.publisher.published, up)
	for _, o := range r.participants {
		if o != up.publisher {
			o.sig.TrackPublished(up.describe())
			if o.perms.Subscribe {
				o.subscribe(up)
			}
		}
	}
	return true
}

// unpublish removes a track that ended from every subscriber.
func (r *Room) unpublish(up *UpTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unpublishLocked(up)
}

func (r *Room) unpublishLocked(up *UpTrack) {
	p := up.publisher
	i := slices.Index(p.published, up)
	if i < 0 {
		return // already unpublished: the publisher left, then the track's reader ended
	}
	p.published = slices.Delete(p.published, i, i+1)
	for _, d := range up.subscribers() {
		d.subscriber.unsubscribe(d)
	}
	for _, o := range r.participants {
		if o != p {
			o.sig.TrackUnpublished(p.id, up.id)
		}
	}
	up.close()
	r.server.totals.retireUp(up)
}

func (r *Room) setMuted(p *Participant, audio, video bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index(p) < 0 || (p.audioMuted == audio && p.videoMuted == video) {
		return
	}
	p.audioMuted, p.videoMuted = audio, video
	for _, o := range r.participants {
		if o != p {
			o.sig.ParticipantUpdated(p.info())
		}
	}
}

func (r *Room) index(p *Participant) int {
	for i, o := range r.participants {
		if o == p {
			return i
		}
	}
	return -1
}
