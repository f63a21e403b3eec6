package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections from a local address to a target address, and can cut the
// ones that carry a WebSocket. Put between a browser and the server's HTTP port, it stands in
// for a network or a server that drops the signaling socket: the browser sees its WebSocket
// close without a close frame (1006), as after a real network failure.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[*proxiedConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// proxiedConn is one client connection and its connection to the target.
type proxiedConn struct {
	client, server net.Conn

	mu        sync.Mutex
	websocket bool // the client asked for a WebSocket upgrade on it
}

// upgradeHeader is how a WebSocket handshake request names itself; HTTP header names and this
// value are case-insensitive, so the proxy compares lowercased bytes.
var upgradeHeader = []byte("upgrade: websocket")

// NewProxy listens on a free port of 127.0.0.1 and forwards every connection to target
// (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[*proxiedConn]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxiedConn{client: client, server: server}
		if !p.track(c) {
			c.close()
			return
		}
		p.wg.Add(2)
		go p.pipe(c, server, client, true)
		go p.pipe(c, client, server, false)
	}
}

// track remembers c, unless the proxy is closed.
func (p *Proxy) track(c *proxiedConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// pipe copies src to dst until either side ends, then closes both: a proxied connection lives
// and dies as one. The client-to-server direction looks for a WebSocket upgrade on the way.
func (p *Proxy) pipe(c *proxiedConn, dst, src net.Conn, fromClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient {
				c.sniff(buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// sniff marks the connection as a WebSocket when a request on it asks for the upgrade. A
// browser sends the handshake's headers in one write, so looking at each read is enough.
func (c *proxiedConn) sniff(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.websocket && bytes.Contains(bytes.ToLower(b), upgradeHeader) {
		c.websocket = true
	}
}

func (c *proxiedConn) isWebSocket() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.websocket
}

func (c *proxiedConn) close() {
	_ = c.client.Close()
	_ = c.server.Close()
}

// CutWebSockets closes every proxied connection that carries a WebSocket, on both sides, and
// returns how many it closed. Other connections (page loads) go on.
func (p *Proxy) CutWebSockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if c.isWebSocket() {
			c.close()
			n++
		}
	}
	return n
}

// Close stops accepting, closes every proxied connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

var _ io.Closer = (*Proxy)(nil)
