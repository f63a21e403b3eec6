package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.httpAddr != ":8080" || c.udpAddr != ":7882" || c.iceTCPAddr != "" || c.keyframe != 500*time.Millisecond || c.maxMessage != 64<<10 {
		t.Fatalf("defaults = %+v", c)
	}
}

// File < environment < command line.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "sfu.yaml", `
http: 127.0.0.1:9000
udp: 127.0.0.1:9001
public-ip: [203.0.113.1, 203.0.113.2]
log-level: debug
keyframe-interval: 2s
ice-servers:
  - urls: ["turn:turn.example.org:3478"]
    username: u
    credential: p
`)
	t.Setenv("SFU_UDP", "127.0.0.1:9101")
	t.Setenv("SFU_LOG_LEVEL", "warn")
	c, err := loadConfig([]string{"-config", file, "-log-level", "error"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.httpAddr != "127.0.0.1:9000" || c.keyframe != 2*time.Second {
		t.Errorf("file settings not applied: http=%q keyframe=%v", c.httpAddr, c.keyframe)
	}
	if got := c.publicIPs.String(); got != "203.0.113.1,203.0.113.2" {
		t.Errorf("public IPs from a YAML list = %q", got)
	}
	if len(c.iceServers) != 1 || c.iceServers[0].Username != "u" || c.iceServers[0].URLs[0] != "turn:turn.example.org:3478" {
		t.Errorf("ICE servers from YAML = %+v", c.iceServers)
	}
	if c.udpAddr != "127.0.0.1:9101" {
		t.Errorf("the environment must win over the file: udp = %q", c.udpAddr)
	}
	if c.logLevel != "error" {
		t.Errorf("the command line must win over the environment: log-level = %q", c.logLevel)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{name: "public IP", args: []string{"-public-ip", "my.host"}, want: "not an IP"},
		{name: "UDP address", args: []string{"-udp", "nowhere"}, want: "-udp"},
		{name: "log level", args: []string{"-log-level", "loud"}, want: "-log-level"},
		{name: "duration in env", env: map[string]string{"SFU_KEYFRAME_INTERVAL": "soon"}, want: "SFU_KEYFRAME_INTERVAL"},
		{name: "half TLS", args: []string{"-tls-cert", "c.pem"}, want: "go together"},
		{name: "ICE server", args: []string{"-ice-servers", `[{"urls":["http://x"]}]`}, want: "stun:"},
		{name: "unknown flag", args: []string{"-colour", "blue"}, want: "colour"},
		{name: "unknown file key", file: "colour: blue\n", want: `unknown setting "colour"`},
		{name: "bad YAML", file: "http: [\n", want: "sfu.yaml"},
		{name: "weak API secret", args: []string{"-api-keys", "k1:short"}, want: "32 bytes"},
		{name: "downlink", args: []string{"-downlink-initial", "3000000", "-downlink-max", "1000000"}, want: "-downlink-initial"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args
			if c.file != "" {
				args = append([]string{"-config", writeFile(t, "sfu.yaml", c.file)}, args...)
			}
			_, err := loadConfig(args, &bytes.Buffer{})
			if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want a configuration error mentioning %q", err, c.want)
			}
		})
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"-help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	c := &config{}
	c.flagSet(&bytes.Buffer{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) {
			t.Errorf("-help does not list -%s", f.Name)
		}
	})
	for _, want := range []string{"SFU_", "YAML", `default ":7882"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-help lacks %q", want)
		}
	}
}
