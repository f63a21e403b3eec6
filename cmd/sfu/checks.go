package main

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
)

// minUDPBuffer is the least receive buffer the kernel should allow the media socket: one UDP port
// takes every participant's media, and a small buffer drops bursts (keyframes) before the server
// reads them.
const minUDPBuffer = 4 << 20

// checkEnvironment warns, one line each, about settings that will hurt calls though the server
// can start. (What stops it from starting, such as a UDP port it cannot bind, is an error.)
func checkEnvironment(cfg *config, log *slog.Logger) {
	if len(cfg.keys) == 0 {
		log.Warn("no api-keys set: the server is open, anyone who reaches it can join any room; " +
			"set -api-keys (SFU_API_KEYS) to require access tokens")
	}
	if len(cfg.publicIPs) == 0 && inContainer() && allInterfaces(cfg.udpAddr) {
		log.Warn("running in a container with no public IP set: browsers will be offered the container's " +
			"internal addresses; set -public-ip (SFU_PUBLIC_IP) to the host's public address")
	}
	if max, ok := readInt("/proc/sys/net/core/rmem_max"); ok && max < minUDPBuffer {
		log.Warn("the UDP receive buffer limit is small: bursts will be dropped under load; raise it with "+
			"sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608", "rmem_max", max)
	}
	if cfg.domain == "" && cfg.tlsCert == "" && !loopbackOnly(cfg.httpAddr) {
		log.Info("serving plain HTTP: browsers allow the camera only on https:// or localhost; " +
			"use -domain or -tls-cert/-tls-key, or a TLS proxy, for calls from other machines")
	}
}

func inContainer() bool {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" || os.Getenv("container") != "" {
		return true
	}
	b, _ := os.ReadFile("/proc/1/cgroup")
	return strings.Contains(string(b), "docker") || strings.Contains(string(b), "kubepods")
}

// allInterfaces reports whether addr listens on every interface (":7882", "0.0.0.0:7882").
func allInterfaces(addr string) bool {
	host, ip := hostOf(addr)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// loopbackOnly reports whether addr listens on loopback only.
func loopbackOnly(addr string) bool {
	host, ip := hostOf(addr)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// hostOf splits the host out of addr, and parses it if it is an IP. A malformed addr gives a host
// that matches neither test above.
func hostOf(addr string) (string, net.IP) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "?", nil
	}
	return host, net.ParseIP(host)
}

func readInt(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
