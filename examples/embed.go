// Package examples holds the example web client of the SFU, compiled into the server binary so
// that one executable serves both the signaling endpoint and a page to try it with.
//
// The client is plain HTML, CSS and JavaScript modules under web/: no build step, no framework
// and no external URL, so what is embedded is exactly what the browser runs. It speaks the
// protocol of docs/protocol.md over the same origin's /ws, and doubles as the reference for
// anyone writing another client.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed web
var web embed.FS

// Web returns the web client's files, rooted at the web directory, for serving at "/"
// (index.html, style.css, and app.js with the modules it imports).
func Web() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "web" is a constant one.
		panic("examples: " + err.Error())
	}
	return sub
}
