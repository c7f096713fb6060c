package indicator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// url normalises a URL by Kaspersky's published rules (tip-api.md §6): no
// scheme, credentials, port or fragment; host in punycode, lower case,
// without a trailing dot or a leading "www.", numeric IPv4 forms as dotted
// decimal; in the path "." and ".." resolved first, then the path and query
// percent-decoded once, lower-cased and repeated slashes collapsed, the
// trailing slash dropped unless a query follows it; the query keeps its
// order and duplicates, and %00 in it is dropped.
//
// Decoding comes last, as in the reference tool and as the issue that
// brought it asks, so that an escaped dot segment is data and not a step
// up: "/%2e%2e/" and "..%2f" name a path segment "..", never the parent, and
// the Value says so literally ("a.com/../.."), as the reference tool
// writes it. Such a Value is the one place where Parse is not idempotent:
// parsed again, its literal ".." would be resolved. Nothing parses a Value
// again (the cache key is built from the caller's input, and TIP receives
// the Value as one escaped path segment), so the reference form wins.
// Dropping a leading "www." as often as it appears rather than once keeps
// every other Value idempotent.
func (p parser) url() (Indicator, *Error) {
	rest, _ := splitScheme(p.s)
	rest = strings.TrimLeft(rest, `/\`)
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.IndexByte(tail, '#'); i >= 0 {
		tail = tail[:i]
	}
	rawPath, rawQuery, _ := strings.Cut(tail, "?")

	host, problem := urlHost(authority)
	if problem != "" {
		return Indicator{}, p.fail(URL, "%s is not a valid URL: %s.", echo(p.in), problem)
	}
	path, problem := urlPath(rawPath)
	if problem != "" {
		return Indicator{}, p.fail(URL, "%s is not a valid URL: %s.", echo(p.in), problem)
	}
	query, problem := urlQuery(rawQuery)
	if problem != "" {
		return Indicator{}, p.fail(URL, "%s is not a valid URL: %s.", echo(p.in), problem)
	}
	if query == "" {
		path = strings.TrimSuffix(path, "/")
	}

	var b strings.Builder
	b.Grow(len(host) + len(path) + len(query) + 1)
	b.WriteString(host)
	writeData(&b, path, true)
	if query != "" {
		b.WriteByte('?')
		writeData(&b, query, false)
	}
	v := b.String()
	// A trailing space would be trimmed away when the Value is parsed again.
	if t := strings.TrimRight(v, " "); len(t) < len(v) {
		v = t + strings.Repeat("%20", len(v)-len(t))
	}
	if len(v) > MaxURLLength {
		return Indicator{}, p.fail(URL, "%s is too long: normalised it is %d characters, and TIP looks up URLs of at most %d.",
			echo(p.in), len(v), MaxURLLength)
	}
	return Indicator{Type: URL, Value: v}, nil
}

// urlHost normalises the authority of a URL to its host, or returns why it
// cannot.
func urlHost(a string) (string, string) {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	if strings.HasPrefix(a, "[") || isIPv6(a) {
		return "", "its host is an IPv6 address, and TIP looks up IPv4 addresses and domain names only"
	}
	host := a
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		port := a[i+1:]
		if _, err := strconv.ParseUint(port, 10, 16); port != "" && (err != nil || !isDigits(port)) {
			return "", fmt.Sprintf("its port %s is not a number from 0 to 65535", strconv.Quote(truncate(port)))
		}
		host = a[:i]
	}
	if host == "" {
		return "", "it has no host name"
	}
	if strings.Contains(host, "%") {
		for i := 0; i < len(host); i++ {
			if host[i] == '%' && !isEscape(host, i) {
				return "", "its host has a '%' that starts no percent-escape"
			}
		}
		host = percentDecode(host)
	}
	h, problem := hostName(host)
	if problem != "" {
		return "", "its host " + problem
	}
	for strings.HasPrefix(h, "www.") {
		h = h[len("www."):]
	}
	if isNumericLabel(h[strings.LastIndexByte(h, '.')+1:]) {
		ip, problem := numericIPv4(h)
		if problem != "" {
			return "", "its host " + problem
		}
		h = ip
	}
	return h, ""
}

// urlPath cleans, then decodes and lower-cases a path ("" or starting with
// "/"). Only literal "." and ".." segments are resolved: those that come out
// of decoding are data (tip-api.md §6, rule 13).
func urlPath(raw string) (string, string) {
	if raw == "" {
		return "", ""
	}
	d := percentDecode(cleanPath(collapseSlashes(raw)))
	if r, ok := firstControl(d); ok {
		return "", fmt.Sprintf("its path contains a control character (%U) once percent-decoded", r)
	}
	return collapseSlashes(lower(d)), ""
}

// urlQuery decodes and lower-cases a query, keeping its order and duplicates.
// %00 is dropped before decoding, as the reference tool does; a literal '+'
// stays '+'.
func urlQuery(raw string) (string, string) {
	if raw == "" {
		return "", ""
	}
	d := percentDecode(strings.ReplaceAll(raw, "%00", ""))
	if r, ok := firstControl(d); ok {
		return "", fmt.Sprintf("its query contains a control character (%U) once percent-decoded", r)
	}
	return collapseSlashes(lower(d)), ""
}

func collapseSlashes(s string) string {
	if !strings.Contains(s, "//") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '/' && i > 0 && s[i-1] == '/' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cleanPath resolves "." and ".." segments (RFC 3986 §5.2.4) in a path that
// starts with "/" and has no repeated slashes; ".." above the root is
// dropped. A path that ended in "/", "/." or "/.." keeps a trailing slash.
func cleanPath(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, seg := range segs {
		last := i == len(segs)-1
		switch seg {
		case ".", "":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, seg)
			trailing = false
		}
	}
	if len(out) == 0 {
		return "/"
	}
	s := "/" + strings.Join(out, "/")
	if trailing {
		s += "/"
	}
	return s
}

// writeData writes decoded path or query text, percent-encoding what would be
// read differently if the Value were parsed again: a '%' that starts an
// escape, '#' (and '?' in the path), the bracket that opens a defang marker, and bytes that are not valid UTF-8. Unicode
// spaces and format characters (zero-width, bidi overrides) are encoded too,
// so that the Value can be shown and logged without hiding or reordering
// text.
func writeData(b *strings.Builder, s string, path bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n, _ := defangAt(s, i)
			if c == '%' && isEscape(s, i) || c == '#' || c == '?' && path || n > 0 {
				writeEscaped(b, s[i:i+1])
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			writeEscaped(b, s[i:i+n])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
}

func writeEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		b.WriteByte('%')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&0xf])
	}
}
