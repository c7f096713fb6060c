package tipsim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
)

// defaultCount is TIP's record limit per list section when count is absent.
const defaultCount = 1000

// lookup is one parsed Threat Lookup request.
type lookup struct {
	typ      indicator.Type
	value    string   // percent-decoded, as sent
	sections []string // as sent; nil when absent
	count    int      // as sent; 0 when absent
}

// limit is the record limit that applies to counted list sections.
func (l lookup) limit() int {
	if l.count == 0 {
		return defaultCount
	}
	return l.count
}

// wants reports whether the request asks for a section; no sections
// parameter means all of them.
func (l lookup) wants(name string) bool {
	if l.sections == nil {
		return true
	}
	for _, s := range l.sections {
		if s == name {
			return true
		}
	}
	return false
}

// apiError is an answer other than 200, with a reason for a person.
type apiError struct {
	status  int
	code    string
	message string
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "bad_request", message: msg}
}

// parseLookup reads GET /api/{type}/{value}?sections=…&count=… from the
// escaped path, so that a URL value's %2F and %3F stay inside the value. It
// fills in what it could read even when it fails, for the request log.
func parseLookup(cat catalog, escapedPath, rawQuery string) (lookup, *apiError) {
	var l lookup
	rest, ok := strings.CutPrefix(escapedPath, "/api/")
	if !ok {
		return l, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: lookups are GET /api/{hash|ip|domain|url}/{value}"}
	}
	typ, raw, _ := strings.Cut(rest, "/")
	switch t := indicator.Type(typ); t {
	case indicator.Hash, indicator.IP, indicator.Domain, indicator.URL:
		l.typ = t
	default:
		return l, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: the type is one of hash, ip, domain or url"}
	}
	value, err := url.PathUnescape(raw)
	if err != nil {
		l.value = raw
		return l, badRequest("the value is not correctly percent-encoded")
	}
	l.value = value

	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return l, badRequest("the query string is not correctly encoded")
	}
	if _, ok := q["sections"]; ok {
		l.sections = []string{}
		for _, param := range q["sections"] {
			for _, s := range strings.Split(param, ",") {
				if s = strings.TrimSpace(s); s != "" {
					l.sections = append(l.sections, s)
				}
			}
		}
		if len(l.sections) == 0 {
			l.sections = nil // "sections=" asks for nothing in particular: all
		}
	}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return l, badRequest("count must be a positive whole number")
		}
		l.count = n
	}

	if strings.Contains(raw, "/") {
		return l, badRequest("the value must be a single path segment: percent-encode '/' as %2F")
	}
	if f := q.Get("format"); f != "" && f != "json" {
		return l, badRequest("the simulator answers only format=json")
	}
	for _, s := range l.sections {
		if _, ok := cat.find(l.typ, s); !ok {
			return l, badRequest("unknown section " + strconv.Quote(clip(s, 64)) + " for type " + string(l.typ) + " (names are case-sensitive)")
		}
	}
	if reason, tooLong := checkValue(l.typ, l.value); reason != "" {
		if tooLong {
			return l, &apiError{status: http.StatusRequestURITooLong, code: "uri_too_long", message: reason}
		}
		return l, badRequest("invalid " + string(l.typ) + ": " + reason)
	}
	return l, nil
}

// clip bounds what an error message echoes of the caller's input.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
