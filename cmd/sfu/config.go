package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"go.yaml.in/yaml/v3"

	"github.com/sfu-project/sfu/signal/token"
)

// config is every setting of the server. Each comes, in rising precedence, from its default, the
// YAML file given with -config, an SFU_* environment variable, and a command-line flag. The
// flag, the YAML key and the variable share one name: -public-ip, public-ip:, SFU_PUBLIC_IP.
type config struct {
	configFile string

	httpAddr   string
	udpAddr    string
	iceTCPAddr string
	publicIPs  stringList
	loopback   bool
	iceServers iceServers
	apiKeys    string
	origins    stringList
	maxRooms   int
	maxMembers int
	maxTracks  int
	maxPerIP   int
	connectMax time.Duration
	keys       token.Keys // parsed from apiKeys by validate

	tlsCert   string
	tlsKey    string
	domain    string
	acmeCache string

	keyframe    time.Duration
	queueLen    int
	bwe         bool
	bweInitial  int
	bweMax      int
	dynacast    bool
	maxMessage  int
	messageRate float64
	joinTimeout time.Duration
	drainGrace  time.Duration
	shutdownMax time.Duration

	logLevel  string
	logFormat string
	pprofAddr string
}

// errConfig marks a configuration error: the process exits with status 2.
var errConfig = errors.New("configuration")

func (c *config) flagSet(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sfu", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.configFile, "config", "", "YAML file of settings (keys are these flag names)")
	fs.StringVar(&c.httpAddr, "http", ":8080", "TCP address for HTTP, the web client and the signaling WebSocket")
	fs.StringVar(&c.udpAddr, "udp", ":7882", "UDP address for all WebRTC media (one port, shared by every peer)")
	fs.StringVar(&c.iceTCPAddr, "ice-tcp", "", "TCP address for ICE over TCP, a fallback for networks that block UDP (off when empty)")
	fs.Var(&c.publicIPs, "public-ip", "comma-separated public IPs announced in ICE candidates (server behind 1:1 NAT)")
	fs.BoolVar(&c.loopback, "loopback-candidates", false, "also offer loopback addresses as ICE candidates (same-machine clients, tests)")
	fs.StringVar(&c.apiKeys, "api-keys", "", "API keys and their secrets (32 bytes or more), key:secret,key2:secret2; when set, every join needs an access token (sfu token mints one)")
	fs.Var(&c.origins, "allowed-origins", "comma-separated host patterns of other origins whose pages may open the WebSocket (e.g. app.example.com,*.example.org); the server's own origin always may")
	fs.IntVar(&c.maxRooms, "max-rooms", 1000, "rooms on the server at once (0: no limit)")
	fs.IntVar(&c.maxMembers, "max-participants", 100, "participants in one room (0: no limit)")
	fs.IntVar(&c.maxTracks, "max-tracks", 8, "audio and video tracks one participant may publish (0: no limit)")
	fs.IntVar(&c.maxPerIP, "max-connections-per-ip", 20, "WebSockets open at once from one address (0: no limit; behind a proxy all clients share its address)")
	fs.DurationVar(&c.connectMax, "connect-timeout", 30*time.Second, "how long a participant may take from its join to a connected PeerConnection before it is removed")
	fs.Var(&c.iceServers, "ice-servers", `STUN/TURN servers for browsers, JSON: [{"urls":["turn:host:3478"],"username":"u","credential":"p"}]`)
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with -tls-key, serve HTTPS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.domain, "domain", "", "get a certificate for this domain from Let's Encrypt (needs -http :443 reachable from the internet)")
	fs.StringVar(&c.acmeCache, "acme-cache", "sfu-certs", "directory where certificates from -domain are kept")
	fs.DurationVar(&c.keyframe, "keyframe-interval", 500*time.Millisecond, "least time between keyframe requests to one published track")
	fs.IntVar(&c.queueLen, "queue-length", 128, "packets that may wait for one subscriber's track before video drops to the next keyframe")
	fs.BoolVar(&c.bwe, "bandwidth-estimation", true, "estimate each subscriber's downlink and fit the layers it gets into it")
	fs.IntVar(&c.bweInitial, "downlink-initial", 2_500_000, "a subscriber's downlink estimate before its first feedback, in bits per second")
	fs.IntVar(&c.bweMax, "downlink-max", 20_000_000, "the most a subscriber's downlink estimate may reach, in bits per second")
	fs.BoolVar(&c.dynacast, "dynacast", true, "pause simulcast layers that no subscriber needs, at the publisher")
	fs.IntVar(&c.maxMessage, "max-message", 64<<10, "largest signaling message a client may send, in bytes")
	fs.Float64Var(&c.messageRate, "message-rate", 50, "signaling messages per second a client may send on average (bursts of twice that)")
	fs.DurationVar(&c.joinTimeout, "join-timeout", 10*time.Second, "how long a new WebSocket may take to send its join")
	fs.DurationVar(&c.drainGrace, "drain-grace", 30*time.Second, "on SIGTERM, how long calls may go on before the server closes them")
	fs.DurationVar(&c.shutdownMax, "shutdown-timeout", 10*time.Second, "how long closing may take after the grace period")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.pprofAddr, "pprof", "", "TCP address for Go's profiler, /debug/pprof/ (off when empty; keep it on loopback, e.g. 127.0.0.1:6060)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sfu [flags]\n       sfu healthcheck [flags]\n\n"+
			"Every flag can also be set in the YAML file given with -config (key: the flag name),\n"+
			"or with an environment variable SFU_<NAME> (capitals, dashes as underscores).\n"+
			"A flag on the command line wins over the environment, which wins over the file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// loadConfig reads the settings from file, environment and args, in that order, and validates
// them.
func loadConfig(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := c.flagSet(out)
	path := configPath(args)
	if path != "" {
		if err := applyFile(fs, path); err != nil {
			return nil, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errConfig, name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	return c, c.validate()
}

func envName(flagName string) string {
	return "SFU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// configPath finds -config in args or SFU_CONFIG, before the rest is parsed.
func configPath(args []string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return os.Getenv("SFU_CONFIG")
}

// applyFile sets the flags named by the YAML file's keys.
func applyFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: %s: %v", errConfig, path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("%w: %s: unknown setting %q (see sfu -help)", errConfig, path, k)
		}
		v, err := settingString(m[k])
		if err == nil {
			err = fs.Set(k, v)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %v", errConfig, path, k, err)
		}
	}
	return nil
}

// settingString turns a YAML value into the flag syntax: scalars as they are, a list of scalars
// comma-separated, anything else as JSON.
func settingString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				b, err := json.Marshal(v)
				return string(b), err
			}
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		b, err := json.Marshal(v)
		return string(b), err
	default:
		return fmt.Sprint(v), nil
	}
}

func (c *config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errConfig}, a...)...)
	}
	if _, err := net.ResolveTCPAddr("tcp", c.httpAddr); err != nil {
		return bad("-http %q: %v", c.httpAddr, err)
	}
	if _, err := net.ResolveUDPAddr("udp", c.udpAddr); err != nil {
		return bad("-udp %q: %v", c.udpAddr, err)
	}
	if c.iceTCPAddr != "" {
		if _, err := net.ResolveTCPAddr("tcp", c.iceTCPAddr); err != nil {
			return bad("-ice-tcp %q: %v", c.iceTCPAddr, err)
		}
	}
	for _, ip := range c.publicIPs {
		if net.ParseIP(ip) == nil {
			return bad("-public-ip %q is not an IP address", ip)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return bad("-tls-cert and -tls-key go together")
	}
	if c.domain != "" && c.tlsCert != "" {
		return bad("-domain gets its own certificate; do not also give -tls-cert")
	}
	if c.keyframe <= 0 {
		return bad("-keyframe-interval must be positive")
	}
	if c.queueLen < 1 {
		return bad("-queue-length must be at least 1")
	}
	if c.connectMax <= 0 {
		return bad("-connect-timeout must be positive")
	}
	if c.maxRooms < 0 || c.maxMembers < 0 || c.maxTracks < 0 || c.maxPerIP < 0 {
		return bad("-max-rooms, -max-participants, -max-tracks and -max-connections-per-ip must be 0 (no limit) or positive")
	}
	keys, err := token.ParseKeys(c.apiKeys)
	if err != nil {
		return bad("-api-keys: %v", err)
	}
	c.keys = keys
	if c.bweInitial < 50_000 || c.bweMax < c.bweInitial {
		return bad("-downlink-initial must be at least 50000 and at most -downlink-max")
	}
	if c.maxMessage < 1024 {
		return bad("-max-message must be at least 1024 bytes")
	}
	if c.messageRate <= 0 || c.joinTimeout <= 0 {
		return bad("-message-rate and -join-timeout must be positive")
	}
	if c.drainGrace < 0 || c.shutdownMax <= 0 {
		return bad("-drain-grace must not be negative and -shutdown-timeout must be positive")
	}
	var level levelValue
	if err := level.Set(c.logLevel); err != nil {
		return bad("-log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return bad("-log-format %q: want text or json", c.logFormat)
	}
	return nil
}

// stringList is a comma-separated flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// iceServers is a JSON list of RTCIceServer, as browsers take it.
type iceServers []webrtc.ICEServer

func (s *iceServers) String() string {
	if len(*s) == 0 {
		return ""
	}
	b, _ := json.Marshal(*s)
	return string(b)
}

func (s *iceServers) Set(v string) error {
	var list []webrtc.ICEServer
	if strings.TrimSpace(v) != "" {
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			return fmt.Errorf("not a JSON list of ICE servers: %v", err)
		}
	}
	for _, srv := range list {
		if len(srv.URLs) == 0 {
			return errors.New("an ICE server without urls")
		}
		for _, u := range srv.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
				!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("ICE server URL %q: want stun:, stuns:, turn: or turns:", u)
			}
		}
	}
	*s = list
	return nil
}
