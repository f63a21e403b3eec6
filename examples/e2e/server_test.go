package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a running sfu binary.
type server struct {
	// httpAddr is the host:port it serves the web client and /ws on; udpAddr its media port.
	httpAddr, udpAddr string

	cmd    *exec.Cmd
	log    syncBuffer    // everything it logged
	exited chan struct{} // closed when the process has exited and its log is read
}

// The server's start-up log line has the addresses it really listens on (the tests ask for
// port 0), in the text or the JSON log format.
var (
	readyLine = regexp.MustCompile(`msg="sfu ready"|"msg":"sfu ready"`)
	httpAttr  = regexp.MustCompile(`\bhttp=(\S+)|"http":"([^"]+)"`)
	udpAttr   = regexp.MustCompile(`\budp=(\S+)|"udp":"([^"]+)"`)
)

// attr is the value of the attribute that re matches in a log line.
func attr(re *regexp.Regexp, line string) string {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// startServer runs the server binary with args, prefixed by wrap (for instance
// "ip netns exec NS"), waits until it is ready and stops it when the test ends. On failure its
// log is saved with the test's other artifacts.
func startServer(t *testing.T, wrap []string, args ...string) *server {
	t.Helper()
	argv := append(append(append([]string{}, wrap...), serverBinary(t)), args...)
	s := &server{exited: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	// Only the flags configure it: SFU_* variables of whoever runs the tests would change it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SFU_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	ready := make(chan [2]string, 1)
	go s.readLog(stderr, ready)
	t.Cleanup(func() { s.stop(t) })

	select {
	case addrs := <-ready:
		s.httpAddr, s.udpAddr = addrs[0], addrs[1]
	case <-s.exited:
		t.Fatalf("server exited before it was ready: %v\n%s", s.cmd.ProcessState, s.log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("server not ready after 15 s:\n%s", s.log.String())
	}
	t.Logf("server: http %s, udp %s", s.httpAddr, s.udpAddr)
	return s
}

// readLog keeps the server's log and reports its ready line; it ends when the process exits.
func (s *server) readLog(r io.Reader, ready chan<- [2]string) {
	defer close(s.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	reported := false
	for sc.Scan() {
		line := sc.Text()
		_, _ = s.log.Write([]byte(line + "\n"))
		if !reported && readyLine.MatchString(line) {
			ready <- [2]string{attr(httpAttr, line), attr(udpAttr, line)}
			reported = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
	_ = s.cmd.Wait()
}

// URL is the web client's address for a room and a name.
func (s *server) URL(room, name string) string { return pageURL(s.httpAddr, room, name) }

// stop ends the server gracefully (SIGTERM), or kills it after a few seconds, and saves its log
// if the test failed.
func (s *server) stop(t *testing.T) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		t.Errorf("server did not stop within 5 s of SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if t.Failed() {
		path := filepath.Join(failureDir(t), "server.log")
		if err := os.WriteFile(path, []byte(s.log.String()), 0o644); err != nil {
			t.Errorf("save server log: %v", err)
		}
		t.Logf("server log: %s", path)
	}
}
