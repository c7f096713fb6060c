// Package indicator owns what tipgate accepts as an indicator of compromise:
// refanging, type detection, validation and normalisation of file hashes,
// IPv4 addresses, domains and URLs. It is pure (no I/O) so that everything a
// caller types can be fuzzed before it can reach TIP or the cache.
//
// The normalised Value is the cache key, so Parse is idempotent: parsing a
// Value again with its Type yields the same Indicator. Where a published
// normalisation rule would break that (decoding percent-escapes once, for
// example), the Value keeps the few characters that would be read differently
// the second time percent-encoded.
package indicator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is an indicator type as TIP names it in its lookup paths
// (/api/{type}/{value}).
type Type string

// The four indicator types TIP Threat Lookup answers for.
const (
	Hash   Type = "hash"
	IP     Type = "ip"
	Domain Type = "domain"
	URL    Type = "url"
)

// Limits on what Parse accepts.
const (
	// MaxInputBytes bounds the raw input, before trimming, so that parsing
	// cost stays small whatever a caller sends.
	MaxInputBytes = 8 << 10
	// MaxURLLength is the longest normalised URL accepted: TIP answers
	// 414 URI Too Long beyond 2000 characters, so a longer one would only
	// spend a request.
	MaxURLLength = 2000
	// maxEcho bounds how much of a bad input an error repeats, so that errors
	// and the logs that carry them stay small.
	maxEcho = 64
)

// Types returns every type in a stable order.
func Types() []Type { return []Type{Hash, IP, Domain, URL} }

// ParseType reads a type name case-insensitively. The empty string is valid
// and means "detect it".
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToLower(strings.TrimSpace(s))); t {
	case "", Hash, IP, Domain, URL:
		return t, nil
	}
	return "", &Error{Input: truncate(s), Reason: fmt.Sprintf("unknown type %s: use hash, ip, domain or url.", echo(s))}
}

// Indicator is a validated, normalised indicator. Value is the form sent to
// TIP and used as the cache key: equivalent inputs yield equal Indicators.
type Indicator struct {
	Type  Type
	Value string
}

func (i Indicator) String() string { return string(i.Type) + ":" + i.Value }

// Error says why an input is not a valid indicator. Reason is a sentence a
// person can act on; it never echoes more than a bounded prefix of the input.
type Error struct {
	Input  string // the raw input, possibly truncated
	Type   Type   // the type that was asked for or detected, if any
	Reason string
}

func (e *Error) Error() string { return e.Reason }

// Parse validates and normalises raw as an indicator of type t. Surrounding
// whitespace is ignored and defanged forms (hxxp://, [.], (.), [:], ...) are
// refanged first. Every error is an *Error.
//
// With t == "" the type is detected, in this order: a hash (32, 40 or 64 hex
// digits), an IPv4 address, a URL (a scheme, any of / ? # @, or a host and a
// port), a domain (at least two labels). With an explicit type the input is
// parsed as that type only: "example.com" and "1.2.3.4" are URLs when asked
// for, but "http://x.com/" is not a domain, nor "example.com" an address.
func Parse(raw string, t Type) (Indicator, error) {
	if len(raw) > MaxInputBytes {
		return Indicator{}, &Error{Input: truncate(raw), Type: t, Reason: fmt.Sprintf(
			"the indicator is %d bytes long; the longest accepted is %d bytes.", len(raw), MaxInputBytes)}
	}
	switch t {
	case "", Hash, IP, Domain, URL:
	default:
		return Indicator{}, &Error{Input: truncate(raw), Reason: fmt.Sprintf(
			"unknown type %s: use hash, ip, domain or url.", echo(string(t)))}
	}
	in := strings.TrimSpace(raw)
	if in == "" {
		return Indicator{}, &Error{Type: t, Reason: "the indicator is empty: give a file hash, an IPv4 address, a domain or a URL."}
	}
	if r, ok := firstControl(in); ok {
		return Indicator{}, newError(in, t, "%s contains a control character (%U): remove it.", echo(in), r)
	}
	p := parser{in: in, s: refang(in)}
	var (
		ind Indicator
		err *Error
	)
	switch t {
	case Hash:
		ind, err = p.hash()
	case IP:
		ind, err = p.ipv4()
	case Domain:
		ind, err = p.domain(1)
	case URL:
		ind, err = p.url()
	default:
		ind, err = p.detect()
	}
	if err != nil {
		return Indicator{}, err
	}
	return ind, nil
}

// parser carries one input through parsing: in is what the caller gave
// (trimmed), for error messages; s is the refanged text that is parsed.
type parser struct {
	in string
	s  string
}

func (p parser) fail(t Type, format string, args ...any) *Error {
	return newError(p.in, t, format, args...)
}

// detect tries the types in the documented order. A shape that clearly
// belongs to one type (all hex digits, digits and dots) is reported with
// that type's reason rather than a generic one, because that is what the
// person most likely meant.
func (p parser) detect() (Indicator, *Error) {
	s := p.s
	if isHex(s) {
		if HashKind(s) != "" || len(s) >= 16 {
			return p.hash()
		}
	}
	if ipv4Shaped(s) || isIPv6(s) || isCIDR(s) {
		return p.ipv4()
	}
	if looksLikeURL(s) {
		return p.url()
	}
	// IDNA maps the ideographic and full-width full stops to dots.
	if strings.ContainsAny(s, ".\u3002\uff0e\uff61") {
		return p.domain(2)
	}
	return Indicator{}, p.fail("", "%s is not a file hash (MD5, SHA-1 or SHA-256), an IPv4 address, a domain or a URL.", echo(p.in))
}

func newError(input string, t Type, format string, args ...any) *Error {
	return &Error{Input: truncate(input), Type: t, Reason: fmt.Sprintf(format, args...)}
}

// truncate cuts s to at most maxEcho bytes on a rune boundary, marking the cut.
func truncate(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// echo quotes a bounded prefix of s for an error message; quoting keeps
// control characters and invalid UTF-8 out of logs.
func echo(s string) string { return strconv.Quote(truncate(s)) }
