package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme/autocert"

	"github.com/sfu-project/sfu/examples"
	"github.com/sfu-project/sfu/sfu"
	"github.com/sfu-project/sfu/sfu/metrics"
	sfusignal "github.com/sfu-project/sfu/signal"
)

// server is one running instance: the media core, the signaling handler and the HTTP server.
type server struct {
	cfg     *config
	log     *slog.Logger
	media   *sfu.Server
	sig     *sfusignal.Handler
	http    *http.Server
	ln      net.Listener
	scheme  string
	ready   atomic.Bool
	served  chan error
	metrics *prometheus.Registry
	pprof   *http.Server // nil unless -pprof is set
	pprofAt net.Addr
}

func start(cfg *config, stderr io.Writer) (*server, error) {
	log := newLogger(cfg, stderr)
	checkEnvironment(cfg, log)

	collector := metrics.New()
	opts := []sfu.Option{
		sfu.WithUDPAddr(cfg.udpAddr), sfu.WithLogger(log),
		sfu.WithLoopbackCandidates(cfg.loopback), sfu.WithKeyframeInterval(cfg.keyframe),
		sfu.WithQueueLength(cfg.queueLen), sfu.WithJoinLatency(collector.ObserveJoin),
		sfu.WithBandwidthEstimation(cfg.bwe, cfg.bweInitial, cfg.bweMax), sfu.WithDynacast(cfg.dynacast),
		sfu.WithLimits(cfg.maxRooms, cfg.maxMembers, cfg.maxTracks), sfu.WithConnectTimeout(cfg.connectMax),
	}
	if len(cfg.publicIPs) > 0 {
		opts = append(opts, sfu.WithPublicIPs(cfg.publicIPs...))
	}
	if cfg.iceTCPAddr != "" {
		opts = append(opts, sfu.WithICETCPAddr(cfg.iceTCPAddr))
	}
	media, err := sfu.New(opts...)
	if err != nil {
		return nil, err
	}
	collector.SetServer(media)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s := &server{cfg: cfg, log: log, media: media, served: make(chan error, 1), metrics: reg, scheme: "http"}
	s.sig = sfusignal.NewHandler(media, sfusignal.WithLogger(log),
		sfusignal.WithICEServers(cfg.iceServers), sfusignal.WithMaxMessage(int64(cfg.maxMessage)),
		sfusignal.WithMessageRate(cfg.messageRate, int(2*cfg.messageRate)), sfusignal.WithJoinTimeout(cfg.joinTimeout),
		sfusignal.WithKeys(cfg.keys), sfusignal.WithMaxConnectionsPerIP(cfg.maxPerIP),
		sfusignal.WithOriginPatterns(cfg.origins...))

	mux := http.NewServeMux()
	mux.Handle("/ws", s.sig)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", http.FileServerFS(examples.Web()))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}

	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		_ = media.Close()
		return nil, fmt.Errorf("cannot listen for HTTP on %s: %w", cfg.httpAddr, err)
	}
	switch {
	case cfg.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			_ = ln.Close()
			_ = media.Close()
			return nil, fmt.Errorf("%w: TLS certificate: %v", errConfig, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		s.scheme = "https"
	case cfg.domain != "":
		m := &autocert.Manager{Prompt: autocert.AcceptTOS, HostPolicy: autocert.HostWhitelist(cfg.domain), Cache: autocert.DirCache(cfg.acmeCache)}
		ln = tls.NewListener(ln, m.TLSConfig()) // TLS-ALPN-01: the challenge is answered on this port
		s.scheme = "https"
	}
	s.ln = ln
	if cfg.pprofAddr != "" {
		if s.pprof, s.pprofAt, err = startPprof(cfg.pprofAddr, log); err != nil {
			_ = ln.Close()
			_ = media.Close()
			return nil, err
		}
	}
	s.ready.Store(true)
	go func() { s.served <- s.http.Serve(ln) }()
	log.Info("sfu ready", "http", ln.Addr().String(), "udp", media.UDPAddr().String(),
		"open", s.scheme+"://"+s.browserHost()+"/?room=demo&name=alice")
	return s, nil
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// URL is the server's base URL, for tests and the start-up line.
func (s *server) URL() string { return s.scheme + "://" + s.ln.Addr().String() }

// serveUntil serves until ctx ends, then drains and closes.
func (s *server) serveUntil(ctx context.Context) error {
	select {
	case err := <-s.served:
		s.close()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.drain()
	s.close()
	s.log.Info("stopped")
	return nil
}

// drain stops joins and waits, up to the grace period, for the calls to end.
func (s *server) drain() {
	s.ready.Store(false)
	grace := s.cfg.drainGrace
	s.log.Info("draining: no new joins; calls may go on", "grace", grace.String(), "participants", s.media.Stats().Participants)
	s.sig.Drain(grace)
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && s.media.Stats().Participants > 0 {
		<-tick.C
	}
}

// close ends every session and peer, then the HTTP server.
func (s *server) close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sig.Close()
		_ = s.media.Close()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownMax)
		defer cancel()
		_ = s.http.Shutdown(ctx)
		if s.pprof != nil {
			_ = s.pprof.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(s.cfg.shutdownMax):
		s.log.Warn("shutdown timed out")
	}
}

// browserHost is the host:port to print in the URL to open: localhost for a wildcard address.
func (s *server) browserHost() string {
	host, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return s.ln.Addr().String()
	}
	if s.cfg.domain != "" {
		host = s.cfg.domain
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level levelValue
	_ = level.Set(cfg.logLevel) // validated
	opts := &slog.HandlerOptions{Level: slog.Level(level)}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// levelValue parses a log level name.
type levelValue slog.Level

func (l *levelValue) Set(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return err
	}
	*l = levelValue(lv)
	return nil
}

var errUnhealthy = errors.New("unhealthy")
