// Package e2e is the end-to-end test suite of the SFU in real browsers: it builds the server
// binary from this tree, runs it, opens the example web client (examples/web) in headless
// Chromium with a fake camera and microphone, and asserts what the people in the call would see,
// read from each page's RTCPeerConnection.getStats() and DOM.
//
// The tests are in the _test.go files. This package's only non-test code is Proxy, a TCP proxy
// that can cut the WebSocket connections going through it: the server has no way to kick a
// client, and to the browser a cut connection is its signaling socket dropping.
//
// Every browser is its own Chromium process (one chromedp ExecAllocator each), so that a test
// can kill one without a goodbye. At most four run at once: the machines this runs on have two
// cores, and each browser encodes a 1280x720 camera in simulcast (up to three layers, fewer
// while the server pauses those nobody watches) and decodes the others.
//
// Chromium comes from SFU_E2E_CHROMIUM, or chromium on PATH, or /usr/bin/chromium. Without it the
// suite skips, except in CI (CI=true), where a missing browser fails it. The packet-loss test
// also needs root for network namespaces (iproute2, nftables) and skips without them outside CI.
package e2e
