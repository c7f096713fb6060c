package indicator

import (
	"net/netip"
	"strconv"
	"strings"
)

// ipv4 parses a bare address strictly: four decimal octets. Leading zeros are
// read as decimal, not octal, because that is how SIEMs zero-pad addresses in
// their logs ("010.001.002.003" is 10.1.2.3); the octal and hex forms that
// browsers accept belong to URL hosts only.
func (p parser) ipv4() (Indicator, *Error) {
	s := p.s
	switch {
	case isIPv6(s):
		return Indicator{}, p.fail(IP, "%s is an IPv6 address; TIP looks up IPv4 addresses only.", echo(p.in))
	case isCIDR(s):
		return Indicator{}, p.fail(IP, "%s is a network range (CIDR), not an address: look up one address, such as %s.",
			echo(p.in), strconv.Quote(s[:strings.IndexByte(s, '/')]))
	case hasScheme(s):
		return Indicator{}, p.fail(IP, "%s is a URL, not an IPv4 address: use type url, or give only the address.", echo(p.in))
	}
	if host, port, ok := strings.Cut(s, ":"); ok && ipv4Shaped(host) && isDigits(port) {
		return Indicator{}, p.fail(IP, "%s has a port: drop %s to look up the address, or look it up as a URL (type url).",
			echo(p.in), strconv.Quote(":"+port))
	}
	if !ipv4Shaped(s) {
		return Indicator{}, p.fail(IP, "%s is not an IPv4 address: give four numbers from 0 to 255 separated by dots, such as 192.0.2.1.", echo(p.in))
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return Indicator{}, p.fail(IP, "%s has %d parts; an IPv4 address has four numbers from 0 to 255 separated by dots, such as 192.0.2.1.",
			echo(p.in), len(parts))
	}
	var b [4]byte
	for i, part := range parts {
		if part == "" {
			return Indicator{}, p.fail(IP, "%s has an empty part; an IPv4 address has four numbers from 0 to 255 separated by dots, such as 192.0.2.1.", echo(p.in))
		}
		n, err := strconv.ParseUint(part, 10, 8)
		if err != nil || len(part) > 3 {
			return Indicator{}, p.fail(IP, "%s is not an IPv4 address: %s is not a number from 0 to 255.", echo(p.in), strconv.Quote(truncate(part)))
		}
		b[i] = byte(n)
	}
	return Indicator{Type: IP, Value: netip.AddrFrom4(b).String()}, nil
}

// ipv4Shaped reports whether s is digits and dots with at least one dot: what
// a person would call an IPv4 address, valid or not.
func ipv4Shaped(s string) bool {
	dots, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case '0' <= c && c <= '9':
			digits++
		default:
			return false
		}
	}
	return dots > 0 && digits > 0
}

// isIPv6 reports whether s is an IPv6 address, bracketed or not.
func isIPv6(s string) bool {
	if !strings.Contains(s, ":") {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return err == nil && a.Is6()
}

// isCIDR reports whether s is an IPv4 or IPv6 network in CIDR notation.
func isCIDR(s string) bool {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok || !isDigits(bits) || len(bits) > 3 {
		return false
	}
	if ipv4Shaped(addr) {
		n, err := strconv.Atoi(bits)
		return err == nil && n <= 32 // 192.0.2.1/100 is more likely a URL path
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// isNumericLabel reports whether a host label is a number in one of the forms
// URL parsers accept for IPv4 (decimal, octal with a leading 0, hex with 0x).
// A host whose last label is numeric is an IPv4 address or nothing.
func isNumericLabel(l string) bool {
	if len(l) > 2 && (l[:2] == "0x" || l[:2] == "0X") {
		return isHex(l[2:])
	}
	return isDigits(l)
}

// numericIPv4 reads a URL host in the forms browsers accept (one to four
// parts, each decimal, octal or hex, the last filling the remaining bytes:
// 0x7f000001, 127.1, 0112.0175.0117.0150) and returns it as a dotted quad.
// When host is not a valid address it returns why, as a predicate.
func numericIPv4(host string) (string, string) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return "", "ends in a number but has more than four parts, so it is neither a domain nor an IPv4 address"
	}
	var v uint64
	for i, part := range parts {
		n, ok := parseIPv4Part(part)
		last := i == len(parts)-1
		switch {
		case !ok:
			return "", "ends in a number but " + strconv.Quote(truncate(part)) + " is not a decimal, octal or hex number, so it is neither a domain nor an IPv4 address"
		case !last && n > 255, last && n >= 1<<(8*(5-len(parts))):
			return "", "is a numeric IPv4 address whose part " + strconv.Quote(truncate(part)) + " is out of range"
		}
		if last {
			v += n
		} else {
			v += n << (8 * (3 - i))
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), ""
}

func parseIPv4Part(s string) (uint64, bool) {
	var (
		n   uint64
		err error
	)
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		n, err = strconv.ParseUint(s[2:], 16, 64)
	case len(s) > 1 && s[0] == '0':
		n, err = strconv.ParseUint(s[1:], 8, 64)
	default:
		n, err = strconv.ParseUint(s, 10, 64)
	}
	return n, err == nil && isNumericLabel(s)
}
