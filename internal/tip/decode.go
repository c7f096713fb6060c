package tip

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxReasonRunes bounds how much of TIP's error text reaches a caller: enough
// for a sentence, not enough for a whole error page.
const maxReasonRunes = 300

// decodeSections reads a 200 body: TIP answers with one JSON object keyed by
// section name. Anything else (an array, null, HTML from a proxy, truncated
// JSON) is not an answer.
func decodeSections(body []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("the body is empty")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	sections := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &sections); err != nil {
		return nil, errors.New("the body is not valid JSON")
	}
	return sections, nil
}

// decodeLicense reads LicenseInfo leniently: it only feeds quota metrics, so
// a field of an unexpected shape is skipped rather than failing a lookup
// whose data sections are fine. It returns nil when there is nothing usable.
func decodeLicense(raw json.RawMessage) *License {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil
	}
	var l License
	if v, ok := fields["AccessType"]; ok {
		_ = json.Unmarshal(v, &l.AccessType)
	}
	l.DayRequests = lenientInt(fields["DayRequests"])
	l.DayQuota = lenientInt(fields["DayQuota"])
	l.TokenExpirationDate = lenientTime(fields["TokenExpirationDate"])
	return &l
}

// lenientInt accepts a JSON number or a numeric string; anything else is 0.
func lenientInt(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(bytes.TrimSpace(raw))
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -1e15 && f <= 1e15 {
		return int(f)
	}
	return 0
}

// lenientTime accepts the timestamp layouts TIP is known to use (tip-api.md
// §2.0); null, absent or unparsable is nil.
func lenientTime(raw json.RawMessage) *time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	return nil
}

// errorReason extracts a short, printable sentence from an error body, which
// may be JSON with unknown keys, an HTML page or plain text (tip-api.md §3.2).
// It returns "" when the body says nothing useful.
func errorReason(contentType string, body []byte) string {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return ""
	}
	if strings.Contains(strings.ToLower(contentType), "json") || trimmed[0] == '{' || trimmed[0] == '[' {
		var v any
		if json.Unmarshal(trimmed, &v) == nil {
			if s := jsonReason(v, 0); s != "" {
				return cleanReason(s)
			}
			return cleanReason(string(trimmed))
		}
	}
	text := string(trimmed)
	if looksLikeHTML(text) {
		text = htmlText(text)
	}
	return cleanReason(text)
}

// jsonReason finds a message in a decoded JSON error body: a string, a known
// key (possibly nested, as in {"error": {"message": …}}), or a list of them.
func jsonReason(v any, depth int) string {
	if depth > 4 {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		// The keys under which JSON error bodies commonly carry their
		// message, most specific first.
		keys := [...]string{
			"message", "error_description", "detail", "status_msg", "reason",
			"error_message", "errormessage", "msg", "description", "error", "title",
		}
		for _, want := range keys {
			for k, val := range x {
				if strings.EqualFold(k, want) {
					if s := jsonReason(val, depth+1); s != "" {
						return s
					}
				}
			}
		}
		// Some APIs wrap every error message in a list under "errors".
		for k, val := range x {
			if strings.EqualFold(k, "errors") {
				return jsonReason(val, depth+1)
			}
		}
	case []any:
		var parts []string
		for _, item := range x {
			if s := jsonReason(item, depth+1); s != "" {
				parts = append(parts, s)
			}
			if len(parts) == 5 {
				break
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

var (
	htmlSniff    = regexp.MustCompile(`(?i)<\s*(!doctype|html|head|body|title|p|h[1-6]|div|br|center|pre)\b`)
	htmlDropped  = regexp.MustCompile(`(?is)<\s*(head|script|style)\b.*?<\s*/\s*(head|script|style)\s*>|<!--.*?-->`)
	htmlTag      = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlTitleTag = regexp.MustCompile(`(?is)<\s*title\b[^>]*>(.*?)<\s*/\s*title\s*>`)
)

func looksLikeHTML(s string) bool { return htmlSniff.MatchString(s) }

// htmlText turns an error page into its visible text. The body usually
// repeats the title; when it is empty the title is all there is.
func htmlText(s string) string {
	var title string
	if m := htmlTitleTag.FindStringSubmatch(s); m != nil {
		title = m[1]
	}
	s = htmlDropped.ReplaceAllString(s, " ")
	s = htmlTag.ReplaceAllString(s, " ")
	s = html.UnescapeString(s)
	if strings.TrimSpace(s) == "" {
		s = html.UnescapeString(htmlTag.ReplaceAllString(title, " "))
	}
	return s
}

// cleanReason makes text safe to put in a one-line Detail: valid UTF-8, no
// control characters, whitespace collapsed, bounded length.
func cleanReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	runes := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = b.Len() > 0
			continue
		}
		if !unicode.IsPrint(r) && r != utf8.RuneError {
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if runes+need > maxReasonRunes {
			return b.String() + "…"
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		runes += need
	}
	return b.String()
}

// parseRetryAfter reads a Retry-After header: delta seconds or an HTTP date.
// It returns 0 when the header is absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// A week is far beyond any sane back-off; the cap keeps a hostile value
	// from overflowing the Duration.
	const maxRetryAfter = 7 * 24 * time.Hour
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(n, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	}
	return min(max(d, 0), maxRetryAfter)
}
