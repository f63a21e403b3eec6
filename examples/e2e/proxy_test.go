package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestProxyCutsOnlyWebSockets checks the proxy without a browser: plain HTTP and a WebSocket go
// through it, and cutting ends the WebSocket and nothing else.
func TestProxyCutsOnlyWebSockets(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "page") })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for { // echo
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	})
	backend := httptest.NewServer(mux)
	defer backend.Close()

	p, err := NewProxy(strings.TrimPrefix(backend.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	httpClient := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer httpClient.CloseIdleConnections()
	get := func() string {
		t.Helper()
		resp, err := httpClient.Get("http://" + p.Addr() + "/page")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(); got != "page" {
		t.Fatalf("GET through the proxy: %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+p.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "hello" {
		t.Fatalf("echo through the proxy: %q, %v", b, err)
	}

	if n := p.CutWebSockets(); n != 1 {
		t.Fatalf("CutWebSockets cut %d connections, want 1 (the WebSocket, not the idle HTTP one)", n)
	}
	if _, _, err := ws.Read(ctx); err == nil {
		t.Fatal("the WebSocket still reads after the cut")
	} else if status := websocket.CloseStatus(err); status != -1 {
		t.Fatalf("the WebSocket ended with close status %d, want none (a dropped connection)", status)
	}
	if got := get(); got != "page" {
		t.Fatalf("GET through the proxy after the cut: %q", got)
	}
}
