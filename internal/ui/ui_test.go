package ui

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantType             string
		wantBody             string
	}{
		{"page", "GET", "/ui", 200, "text/html; charset=utf-8", `<script src="/ui/app.js" defer></script>`},
		{"page with slash", "GET", "/ui/", 200, "text/html; charset=utf-8", `id="indicator"`},
		{"page with an indicator", "GET", "/ui/?indicator=hxxp://example[.]com", 200, "text/html; charset=utf-8", `id="lookup-form"`},
		{"script", "GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", `"use strict"`},
		{"style", "GET", "/ui/app.css", 200, "text/css; charset=utf-8", `:focus-visible`},
		{"head", "HEAD", "/ui", 200, "text/html; charset=utf-8", ""},
		{"no such asset", "GET", "/ui/nope.js", 404, "", ""},
		{"the test-only axe-core is not served", "GET", "/ui/axe.min.js", 404, "", ""},
		{"index by name is fine", "GET", "/ui/index.html", 200, "text/html; charset=utf-8", `id="answer"`},
		{"post", "POST", "/ui", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.target, nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q, want %q", got, ContentSecurityPolicy)
			}
			if w.Header().Get("Location") != "" {
				t.Errorf("answered with a redirect to %s", w.Header().Get("Location"))
			}
			if tt.wantType != "" {
				if got := w.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("the body lacks %q", tt.wantBody)
			}
		})
	}
}

func TestRevalidatedByETag(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/ui/app.js", nil))
	etag := w.Header().Get("ETag")
	if etag == "" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, w.Header().Get("Cache-Control"))
	}
	r := httptest.NewRequest("GET", "/ui/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified {
		t.Errorf("a revalidation with the current ETag = %d, want 304", w.Code)
	}
}

// TestNoInlineCodeNorExternalAssets reads the committed files: the CSP
// would block an inline script or style, and the console must load nothing
// from elsewhere.
func TestNoInlineCodeNorExternalAssets(t *testing.T) {
	page, err := files.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), // inline event handlers
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := re.FindString(html); m != "" {
			t.Errorf("index.html has %q, which the CSP forbids or which loads from elsewhere", m)
		}
	}
	css, _ := files.ReadFile("static/app.css")
	if strings.Contains(string(css), "url(") || strings.Contains(string(css), "@import") {
		t.Error("app.css loads something; the console has no external assets")
	}
	js, _ := files.ReadFile("static/app.js")
	for _, banned := range []string{"localStorage", "innerHTML", "eval(", "new Function", "document.write"} {
		if strings.Contains(string(js), banned) {
			t.Errorf("app.js uses %s", banned)
		}
	}
}
