// Package ui owns the analyst's console: a page embedded in the binary that
// does over tipgate's public API what the SIEM's Threat Lookup panel does
// (seeds/003): whatever is cached for an indicator opens at once with the
// time TIP sent it and an Update button; otherwise a form asks which data
// types to request and how many records, then Request.
//
// The page is plain committed HTML, CSS and JavaScript with no build step
// and no external assets. It holds no data and needs no key to load; the
// analyst's key stays in the browser tab's session storage and travels only
// as an Authorization header on the API calls the page makes. What a lookup
// means stays with the API: the page shows what the API answers.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// files is the console. embed needs a package-level variable; it is never
// written.
//
//go:embed static
var files embed.FS

// ContentSecurityPolicy is sent with every file of the console. Everything
// comes from tipgate itself: no inline scripts or styles (the page has
// none, so an injected one cannot run), no plugins, no framing by other
// sites, and forms post only to tipgate. data: images allow the empty
// favicon that keeps browsers from asking for /favicon.ico.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'"

// asset is one embedded file, read once: the console is small and fixed
// for the life of the process.
type asset struct {
	name        string
	contentType string
	etag        string
	body        []byte
}

// Handler serves the console: the page at /ui and /ui/ (a query such as
// ?indicator= is the page's business) and its assets under /ui/.
type Handler struct {
	assets map[string]asset // by request path
}

// New returns the console's handler.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
	}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := types[path.Ext(p)]
		if !ok {
			return fmt.Errorf("ui: %s has no known content type", p)
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		h.assets["/ui/"+name] = asset{name: name, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, body: body}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: read the embedded console: %w", err)
	}
	index, ok := h.assets["/ui/index.html"]
	if !ok {
		return nil, fmt.Errorf("ui: the embedded console has no index.html")
	}
	// No redirect between the two: a SIEM or a ticket may link to either,
	// with ?indicator=, and a redirect would be one more round trip.
	h.assets["/ui"], h.assets["/ui/"] = index, index
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// The page's address may carry an indicator; other sites it links to
	// (TIP's threat descriptions) need not learn it.
	hdr.Set("Referrer-Policy", "no-referrer")
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.Error(w, "There is no such file in the console; open /ui.", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "The console is read with GET.", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	// Revalidated on every load (cheap, by ETag) so that an upgraded
	// gateway never runs an old script against a new API.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
