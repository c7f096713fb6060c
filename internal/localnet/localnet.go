// Package localnet owns which indicators are the organisation's own and must
// never be sent to TIP: addresses in private, loopback, link-local, CGNAT,
// multicast, reserved and documentation ranges, URLs whose host is one of
// them, and names under internal domain suffixes. A SIEM that enriches every
// event asks about these constantly; sending them would spend quota on
// questions TIP cannot usefully answer and tell a third party the
// organisation's internal names.
package localnet

import (
	"net/netip"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Matcher says whether an indicator is local. It is immutable once built and
// safe for concurrent use. A nil *Matcher treats nothing as local.
type Matcher struct {
	nets []netip.Prefix
	// suffixes holds the local domain suffixes, lower case, without leading
	// or trailing dots; a name is local when it or any of its parent names
	// is in the set, so a lookup costs one map probe per label.
	suffixes map[string]struct{}
}

// New returns a Matcher for the given networks and domain suffixes. Invalid
// prefixes and empty suffixes are ignored; suffixes are compared
// case-insensitively and their leading and trailing dots are dropped, so
// ".Local." means "local". Validating what an operator wrote, and saying
// what is wrong with it, is the configuration's job.
func New(nets []netip.Prefix, domains []string) *Matcher {
	m := &Matcher{suffixes: make(map[string]struct{}, len(domains))}
	for _, p := range nets {
		if p.IsValid() {
			m.nets = append(m.nets, p.Masked())
		}
	}
	for _, d := range domains {
		if d = normaliseName(strings.TrimLeft(strings.TrimSpace(d), ".")); d != "" {
			m.suffixes[d] = struct{}{}
		}
	}
	return m
}

// Local reports whether ind is the organisation's own: an IP address in one
// of the networks, a domain equal to or under one of the suffixes, or a URL
// whose host is either. Hashes are never local. It expects the normalised
// values indicator.Parse makes (a URL without its scheme, its host in dotted
// decimal when it is an address) but also reads a URL with a scheme, user
// information or a port.
func (m *Matcher) Local(ind indicator.Indicator) bool {
	if m == nil {
		return false
	}
	switch ind.Type {
	case indicator.IP:
		return m.localHost(ind.Value)
	case indicator.Domain:
		return m.localName(ind.Value)
	case indicator.URL:
		return m.localHost(urlHost(ind.Value))
	}
	return false
}

// localHost checks a host that may be an address or a name.
func (m *Matcher) localHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return m.localAddr(a)
	}
	return m.localName(host)
}

func (m *Matcher) localAddr(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range m.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// localName walks from the whole name to its last label: "a.b.lan" is
// checked as "a.b.lan", "b.lan" and "lan", never as a substring, so "lan"
// does not make "plan" or "notlan.com" local.
func (m *Matcher) localName(name string) bool {
	if len(m.suffixes) == 0 {
		return false
	}
	name = normaliseName(name)
	for name != "" {
		if _, ok := m.suffixes[name]; ok {
			return true
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return false
		}
		name = name[i+1:]
	}
	return false
}

// normaliseName lower-cases a name and drops one trailing dot (the root).
// strings.ToLower does not allocate for a name already in lower case, which
// normalised indicators are.
func normaliseName(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// urlHost returns the host of a URL value: the text before the path, query
// or fragment, without a scheme, user information, port or IPv6 brackets.
// indicator.Parse leaves only the host and what follows it ("10.0.0.5/x?y"),
// but a value built by hand may carry the rest, and the host must be found
// either way: a miss here would send an internal URL to TIP.
func urlHost(v string) string {
	// A scheme is followed by two slashes, which browsers, and
	// indicator.Parse, also read as backslashes ("http:\\host").
	if i := strings.IndexByte(v, ':'); i > 0 && isScheme(v[:i]) && len(v) >= i+3 && isSlash(v[i+1]) && isSlash(v[i+2]) {
		v = v[i+1:]
	}
	v = strings.TrimLeft(v, `/\`)
	if i := strings.IndexAny(v, `/?#\`); i >= 0 {
		v = v[:i]
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	if strings.HasPrefix(v, "[") {
		if end := strings.IndexByte(v, ']'); end > 0 {
			return v[1:end]
		}
		return ""
	}
	// One colon is a port; more would be a bare IPv6 address, which has
	// none.
	if i := strings.LastIndexByte(v, ':'); i >= 0 && strings.Count(v, ":") == 1 && isDigits(v[i+1:]) {
		v = v[:i]
	}
	return v
}

// isScheme reports whether s has the shape of a URL scheme (RFC 3986 §3.1).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case, for letters
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return s != ""
}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
