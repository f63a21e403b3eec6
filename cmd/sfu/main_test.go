package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

func TestRunReportsBusyUDPPort(t *testing.T) {
	// Another process holds the media port: run must fail at once, saying which port.
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	err = run(context.Background(), []string{"-http", "127.0.0.1:0", "-udp", held.LocalAddr().String(), "-log-level", "error"},
		env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), held.LocalAddr().String()) {
		t.Fatalf("run with a busy UDP port: %v; want an error naming the port", err)
	}
}
