package sfu

import "sync"

// mailbox is an unbounded queue of functions run in order by one goroutine. Other participants
// post to it (a track to add, one to remove) without ever waiting for this participant, which is
// what keeps two participants' negotiations from deadlocking on each other.
type mailbox struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

func (m *mailbox) post(f func()) {
	m.mu.Lock()
	m.q = append(m.q, f)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() []func() {
	m.mu.Lock()
	q := m.q
	m.q = nil
	m.mu.Unlock()
	return q
}
