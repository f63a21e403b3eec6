package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain builds nothing up front (a skipped suite costs no build) and removes what the tests
// made, then checks that no goroutine outlived them: every browser, server, proxy and reader
// goroutine of the suite must be gone by then.
func TestMain(m *testing.M) {
	code := m.Run()
	build.cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// inCI reports whether the suite runs in CI, where a missing browser or a missing network
// namespace is a failure and never a skip.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// skipOrFail skips the test with why, or fails it in CI.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if inCI() {
		t.Fatalf("%s (CI=true: the browser end-to-end tests must run in CI)", why)
	}
	t.Skip(why)
}

// chromiumPath finds Debian's Chromium, or skips (fails in CI) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the browser end-to-end tests")
	}
	if p := os.Getenv("SFU_E2E_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, fmt.Sprintf("SFU_E2E_CHROMIUM=%s: %v: skipping the browser end-to-end tests", p, err))
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	skipOrFail(t, "Chromium not found (apt-get install chromium, or set SFU_E2E_CHROMIUM to a "+
		"Chromium binary): skipping the browser end-to-end tests")
	return ""
}

// serverBuild is the server binary, built once per test run from this tree.
type serverBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

var build serverBuild

// serverBinary builds cmd/sfu (once per run) and returns its path; SFU_E2E_SERVER names a
// binary to test instead (a release, or one built with -race).
func serverBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SFU_E2E_SERVER"); p != "" {
		return p
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "sfu-e2e-bin-*")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "sfu")
		start := time.Now()
		cmd := exec.Command(goTool(), "build", "-o", build.bin, "github.com/sfu-project/sfu/cmd/sfu")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/sfu: %w\n%s", err, out)
			return
		}
		t.Logf("built the server in %v", time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func (b *serverBuild) cleanup() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// goTool is the go command that runs this test, so that the server is built by the same
// toolchain even when go is not on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// artifacts is the folder, outside the repository, where the suite leaves what a person may
// want to look at: the screenshot of a call on success, and on failure each browser's
// screenshot and console and the server's log. One folder per run, made when first needed.
var artifacts struct {
	once sync.Once
	dir  string
	err  error
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	artifacts.once.Do(func() {
		if dir := os.Getenv("SFU_E2E_ARTIFACTS"); dir != "" {
			artifacts.dir, artifacts.err = dir, os.MkdirAll(dir, 0o755)
			return
		}
		artifacts.dir, artifacts.err = os.MkdirTemp("", "sfu-e2e-*")
	})
	if artifacts.err != nil {
		t.Fatalf("artifacts folder: %v", artifacts.err)
	}
	return artifacts.dir
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// failureDir is the folder for the artifacts of a failed test: the test's name under the run's
// artifacts folder.
func failureDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(artifactsDir(t), unsafeFileChars.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("failure artifacts: %v", err)
	}
	return dir
}

// syncBuffer collects a process's output, or a page's console, from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
