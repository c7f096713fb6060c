package tipsim

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/tipgate/tipgate/internal/indicator"
)

// checkValue says why v is not a value TIP accepts for t, as a short sentence,
// or "" when it is acceptable. tooLong reports a URL over MaxURLLength.
func checkValue(t indicator.Type, v string) (reason string, tooLong bool) {
	if v == "" {
		return "the value is empty", false
	}
	switch t {
	case indicator.Hash:
		if !validHash(v) {
			return "a hash is 32, 40 or 64 hexadecimal characters (MD5, SHA-1 or SHA-256)", false
		}
	case indicator.IP:
		if _, ok := parseIPv4(v); !ok {
			return "an ip is an IPv4 address in dotted-decimal form", false
		}
	case indicator.Domain:
		if !validDomain(v) {
			return "a domain is dot-separated labels of letters, digits, hyphens and underscores, at most 253 characters", false
		}
	case indicator.URL:
		if utf8.RuneCountInString(v) > MaxURLLength {
			return "a url is at most 2000 characters", true
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "a url must be valid UTF-8 without control characters", false
		}
		if _, ok := urlHost(v); !ok {
			return "a url must start with a host name or an IPv4 address", false
		}
	default:
		return "unknown type", false
	}
	return "", false
}

func validHash(v string) bool {
	switch len(v) {
	case 32, 40, 64:
	default:
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isHex(v[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseIPv4 accepts only the canonical dotted quad (no leading zeros, no
// IPv6), which is what tipgate sends.
func parseIPv4(v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() || a.String() != v {
		return netip.Addr{}, false
	}
	return a, true
}

// validDomain accepts LDH labels (plus underscore, seen in real DNS names),
// punycode included. The last label must not be all digits, so that an IPv4
// address is never taken for a domain.
func validDomain(v string) bool {
	v = strings.TrimSuffix(v, ".")
	if v == "" || len(v) > 253 {
		return false
	}
	labels := strings.Split(v, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// urlHost returns the lower-cased host of a URL value: an optional scheme,
// credentials and port are skipped, as TIP's normalisation drops them.
func urlHost(v string) (string, bool) {
	if i := strings.Index(v, "://"); i > 0 && validScheme(v[:i]) {
		v = v[i+3:]
	}
	authority := v
	if i := strings.IndexAny(v, "/?#"); i >= 0 {
		authority = v[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		port := authority[i+1:]
		if strings.Trim(port, "0123456789") != "" {
			return "", false
		}
		authority = authority[:i]
	}
	host := strings.ToLower(strings.TrimSuffix(authority, "."))
	if _, ok := parseIPv4(host); ok {
		return host, true
	}
	if !validDomain(host) {
		return "", false
	}
	return host, true
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}
