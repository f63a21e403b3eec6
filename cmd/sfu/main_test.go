package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestFlagsEnvironmentAndPrecedence(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.httpAddr != ":8080" || o.udpAddr != ":7882" || o.keyframe != 500*time.Millisecond {
		t.Fatalf("defaults = %+v", o)
	}
	t.Setenv("SFU_HTTP", "127.0.0.1:9000")
	t.Setenv("SFU_UDP", "127.0.0.1:9001")
	t.Setenv("SFU_LOOPBACK_CANDIDATES", "true")
	o, err = parseFlags([]string{"-udp", "127.0.0.1:9999"})
	if err != nil {
		t.Fatal(err)
	}
	if o.httpAddr != "127.0.0.1:9000" || !o.loopback {
		t.Fatalf("environment not applied: %+v", o)
	}
	if o.udpAddr != "127.0.0.1:9999" {
		t.Fatalf("a command-line flag must win over the environment: udp = %q", o.udpAddr)
	}
	t.Setenv("SFU_KEYFRAME_INTERVAL", "soon")
	if _, err := parseFlags(nil); err == nil {
		t.Fatal("a malformed environment variable was accepted")
	}
}

func TestRunReportsBusyUDPPort(t *testing.T) {
	// Another process holds the media port: run must fail at once, saying which port.
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	err = run([]string{"-http", "127.0.0.1:0", "-udp", held.LocalAddr().String(), "-log-level", "error"})
	if err == nil || !strings.Contains(err.Error(), held.LocalAddr().String()) {
		t.Fatalf("run with a busy UDP port: %v; want an error naming the port", err)
	}
}
