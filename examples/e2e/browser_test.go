package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Window sizes. A browser's screenshot shows the call at desktop size; the others are small, as
// drawing video into a big window in software is a good part of a browser's CPU, and eight
// cores' worth of call runs here on two.
const (
	desktopWidth, desktopHeight = 1280, 800
	smallWidth, smallHeight     = 640, 400
)

// actionTimeout bounds one DevTools action (an evaluation, a click, a screenshot).
const actionTimeout = 10 * time.Second

// pageURL is the web client's address on host:port that joins room as name at once.
func pageURL(hostPort, room, name string) string {
	return "http://" + hostPort + "/?" + url.Values{"room": {room}, "name": {name}}.Encode()
}

// browserSpec says how to start one browser.
type browserSpec struct {
	name string // the participant's name, and the browser's in logs and artifact files
	url  string // the page to open

	// execPath runs Chromium; empty for the one chromiumPath finds. The packet-loss test
	// points it at a script that starts Chromium in another network namespace.
	execPath string
	// secureOrigin is an http origin (not loopback) that the browser treats as secure, so
	// that getUserMedia exists on its pages.
	secureOrigin string
	// desktop makes the window desktop-sized instead of small.
	desktop bool
	// flags are more Chromium command-line flags, or other values for the suite's own (a
	// fake camera count: "use-fake-device-for-media-stream": "device-count=2").
	flags map[string]any
}

// browser is one Chromium process with one tab, showing the web client as one participant.
type browser struct {
	name string

	ctx         context.Context // the tab
	cancelTab   context.CancelFunc
	cancelAlloc context.CancelFunc

	console syncBuffer // the page's console and the browser's log entries
	output  syncBuffer // Chromium's stdout and stderr

	mu     sync.Mutex
	killed bool
}

// openBrowsers starts a browser for each spec, at the same time, and closes them when the test
// ends; on failure it first saves each one's screenshot, console and output.
func openBrowsers(t *testing.T, specs ...browserSpec) []*browser {
	t.Helper()
	chromium := chromiumPath(t)
	if len(specs) > 4 {
		t.Fatalf("%d browsers: at most 4 may run at once on this machine", len(specs))
	}
	browsers := make([]*browser, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		if spec.execPath == "" {
			spec.execPath = chromium
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			browsers[i], errs[i] = launch(spec)
		}()
	}
	wg.Wait()
	for _, b := range browsers {
		if b != nil {
			t.Cleanup(func() { b.close(t) })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return browsers
}

// launch starts Chromium, keeps its console and opens spec.url.
func launch(spec browserSpec) (*browser, error) {
	b := &browser{name: spec.name}
	width, height := smallWidth, smallHeight
	if spec.desktop {
		width, height = desktopWidth, desktopHeight
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(spec.execPath),
		chromedp.CombinedOutput(&b.output),
		chromedp.NoSandbox, // we run as root in CI
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Real host candidates instead of mDNS names, which nothing here could resolve.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
	for name, value := range spec.flags {
		opts = append(opts, chromedp.Flag(name, value))
	}
	if spec.secureOrigin != "" {
		opts = append(opts, chromedp.Flag("unsafely-treat-insecure-origin-as-secure", spec.secureOrigin))
	}
	// The allocator makes a new, empty user data directory for the browser, and removes it.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b.ctx, b.cancelTab, b.cancelAlloc = ctx, cancelTab, cancelAlloc
	fail := func(err error) (*browser, error) {
		cancelTab()
		cancelAlloc()
		return nil, fmt.Errorf("browser %s: %w\nChromium said:\n%s", spec.name, err, b.output.String())
	}
	// The first action starts the browser; it must not run under a timeout, which would end the
	// browser with it.
	if err := chromedp.Do(ctx); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	if err := b.do(chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(spec.url)); err != nil {
		return fail(fmt.Errorf("open %s: %w", spec.url, err))
	}
	return b, nil
}

// onEvent keeps the page's console messages, uncaught exceptions and browser log entries. It
// runs on chromedp's reading goroutine and must be quick.
func (b *browser) onEvent(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		args := make([]string, 0, len(ev.Args))
		for _, arg := range ev.Args {
			args = append(args, remoteObjectText(arg))
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + remoteObjectText(d.Exception)
		}
		line = fmt.Sprintf("exception: %s (%s:%d)", text, d.URL, d.LineNumber)
	case *log.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("log.%s [%s]: %s %s", e.Level, e.Source, e.Text, e.URL)
	default:
		return
	}
	_, _ = fmt.Fprintf(&b.console, "%s %s\n", time.Now().Format("15:04:05.000"), line)
}

func remoteObjectText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

// do runs actions on the page, each step bounded by actionTimeout.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout*time.Duration(max(1, len(actions))))
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// eval evaluates a JavaScript expression, waiting for the promise it returns, and decodes its
// result (JSON) into a T.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return v, fmt.Errorf("%s: evaluate: %w", b.name, err)
	}
	return v, nil
}

// click clicks the element that selector matches, as a person would, and returns when the page
// got the click by its own clock. (chromedp's Click first finds the element through the DOM
// domain, which takes most of a second on a busy page: the page's time is the click's.)
func (b *browser) click(selector string) (time.Time, error) {
	const record = `document.querySelector(%q).addEventListener('click', () => { window.__sfuE2EClickedAt = Date.now(); }, {capture: true, once: true}), true`
	if _, err := eval[bool](b, fmt.Sprintf(record, selector)); err != nil {
		return time.Time{}, err
	}
	if err := b.do(chromedp.Click(chromedp.CSS(selector))); err != nil {
		return time.Time{}, fmt.Errorf("%s: click %s: %w", b.name, selector, err)
	}
	ms, err := eval[int64](b, `window.__sfuE2EClickedAt ?? 0`)
	if err != nil {
		return time.Time{}, err
	}
	if ms == 0 {
		return time.Time{}, fmt.Errorf("%s: click %s: the page got no click", b.name, selector)
	}
	return time.UnixMilli(ms), nil
}

// scaleDown makes the page send its camera at 1/factor of its width and height: every simulcast
// layer at 1/factor of its own size.
func (b *browser) scaleDown(factor float64) error {
	_, err := eval[bool](b, fmt.Sprintf(`(async () => {
  const sender = window.sfuClient.pc.getSenders().find((s) => s.track?.kind === 'video');
  const params = sender.getParameters();
  for (const e of params.encodings) e.scaleResolutionDownBy = (e.scaleResolutionDownBy ?? 1) * %v;
  await sender.setParameters(params);
  return true;
})()`, factor))
	return err
}

// preferFrameRate marks the page's camera track as motion video, so that a browser short of CPU
// lowers the resolution of what it sends and keeps the frame rate (WebRTC's
// maintain-framerate), instead of lowering both (balanced, the default for a camera). The
// frame rate is what these tests measure, and what the server is responsible for. The track
// outlives reconnections, and the hint with it.
func (b *browser) preferFrameRate() error {
	ok, err := eval[bool](b, `(() => {
  const track = document.querySelector('.tile[data-local="true"] video')?.srcObject?.getVideoTracks()[0];
  if (track) track.contentHint = 'motion';
  return Boolean(track);
})()`)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: no camera track on the local tile", b.name)
	}
	return nil
}

// screenshot is a PNG of the browser's window.
func (b *browser) screenshot() ([]byte, error) {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

// kill ends the browser process with SIGKILL: no pagehide, no goodbye, no closing handshake.
// Its child processes, the network service among them, end with it (chromedp kills any that
// linger), so its sockets close as a crashed browser's do.
func (b *browser) kill() error {
	c := chromedp.FromContext(b.ctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return fmt.Errorf("%s: no browser process", b.name)
	}
	b.mu.Lock()
	b.killed = true
	b.mu.Unlock()
	if err := c.Browser.Process().Kill(); err != nil {
		return fmt.Errorf("%s: kill: %w", b.name, err)
	}
	return nil
}

func (b *browser) wasKilled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.killed
}

// close saves the browser's screenshot, console and output if the test failed, then ends it.
func (b *browser) close(t *testing.T) {
	if t.Failed() {
		b.saveArtifacts(t)
	}
	b.cancelTab()
	b.cancelAlloc()
}

func (b *browser) saveArtifacts(t *testing.T) {
	dir := failureDir(t)
	base := filepath.Join(dir, unsafeFileChars.ReplaceAllString(b.name, "_"))
	if !b.wasKilled() {
		if png, err := b.screenshot(); err != nil {
			t.Logf("%s: no screenshot: %v", b.name, err)
		} else if err := os.WriteFile(base+".png", png, 0o644); err != nil {
			t.Errorf("%s: save screenshot: %v", b.name, err)
		}
	}
	if err := os.WriteFile(base+"-console.log", []byte(b.console.String()), 0o644); err != nil {
		t.Errorf("%s: save console: %v", b.name, err)
	}
	if err := os.WriteFile(base+"-chromium.log", []byte(b.output.String()), 0o644); err != nil {
		t.Errorf("%s: save Chromium output: %v", b.name, err)
	}
	t.Logf("%s: screenshot and console log saved in %s", b.name, dir)
}
