package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// none is the value that empties a list whose unset default is not empty.
const none = "none"

// Limits of a domain name (RFC 1035 §2.3.4), for local domain suffixes.
const (
	maxDomainLength = 253
	maxLabelLength  = 63
)

// sizeUnit returns how many bytes one unit is, for a lower-case unit.
// Decimal and binary units are both accepted because operators write both,
// and each means what the IEC says it means.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "", "b":
		return 1, true
	case "kb":
		return 1000, true
	case "mb":
		return 1000 * 1000, true
	case "gb":
		return 1000 * 1000 * 1000, true
	case "tb":
		return 1000 * 1000 * 1000 * 1000, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a byte count: a whole number, optionally followed by a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024;
// case-insensitive, spaces allowed around the unit). "64MiB", "1 GiB",
// "512MB" and "268435456" are all sizes. The result is never negative.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes, optionally with a unit such as 64MiB, 1GiB or 512MB", s)
	}
	mult, ok := sizeUnit(strings.ToLower(strings.TrimSpace(t[i:])))
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", s)
	}
	var n int64
	for _, c := range t[:i] {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// parseDuration reads a Go duration ("30s", "1h30m") that must be positive,
// or, with allowZero, not negative. Bare numbers are refused rather than
// guessed at: "30" could mean seconds or nanoseconds.
func parseDuration(s string, allowZero bool) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write a number with a unit, such as 30s, 5m or 24h", s)
	}
	switch {
	case allowZero && d < 0:
		return 0, fmt.Errorf("%q is negative; it must be zero or more", s)
	case !allowZero && d <= 0:
		return 0, fmt.Errorf("%q must be more than zero", s)
	}
	return d, nil
}

// parseNets reads a comma-separated list of IPv4 CIDR ranges and bare IPv4
// addresses ("10.0.0.0/8, 192.0.2.7"); spaces around entries and empty
// entries (a trailing comma) are ignored. A bare address is its /32, and a
// range written with host bits ("10.1.2.3/8") is the network that holds it.
// Every entry that is not one is an error of its own, quoting it.
func parseNets(s string) ([]netip.Prefix, []error) { return parseAddrs(s, true) }

// parseAddrs is parseNets, for IPv6 as well unless ipv4Only.
func parseAddrs(s string, ipv4Only bool) ([]netip.Prefix, []error) {
	var (
		nets []netip.Prefix
		errs []error
	)
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		var (
			p   netip.Prefix
			err error
		)
		if strings.Contains(entry, "/") {
			p, err = netip.ParsePrefix(entry)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(entry); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		switch {
		case err != nil && !ipv4Only:
			errs = append(errs, fmt.Errorf("%s is not an IP address or CIDR range, such as 10.0.0.0/8, 192.0.2.7 or fd00::/8", strconv.Quote(entry)))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is not an IPv4 address or CIDR range, such as 10.0.0.0/8 or 192.0.2.7", strconv.Quote(entry)))
		case !ipv4Only:
			// A proxy may reach tipgate over IPv4 mapped into IPv6; the
			// address a connection reports is unmapped before matching.
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			nets = append(nets, p.Masked())
		case !p.Addr().Is4():
			// TIP looks up IPv4 addresses only, so tipgate never sees an
			// IPv6 one: an entry that can never match is a mistake.
			errs = append(errs, fmt.Errorf("%s is an IPv6 address or range, and tipgate looks up IPv4 addresses only; remove it", strconv.Quote(entry)))
		default:
			nets = append(nets, p.Masked())
		}
	}
	return nets, errs
}

// parseDomains reads a comma-separated list of domain suffixes ("corp,
// .lan"): lower-cased, leading dots and one trailing dot dropped, spaces
// around entries and empty entries ignored. Every entry that is not a
// sequence of host-name labels is an error of its own, quoting it.
func parseDomains(s string) ([]string, []error) {
	var (
		domains []string
		errs    []error
	)
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		d := strings.TrimSuffix(strings.TrimLeft(entry, "."), ".")
		if problem := domainProblem(d); problem != "" {
			errs = append(errs, fmt.Errorf("%s is not a domain suffix: it %s", strconv.Quote(entry), problem))
			continue
		}
		// Lower-cased only once known to be ASCII: Unicode case mapping
		// would turn the Kelvin sign into a "k".
		domains = append(domains, strings.ToLower(d))
	}
	return domains, errs
}

// domainProblem says, as a predicate, what keeps a name from being a host
// name a local indicator could end in; "" when nothing does.
// The characters are those indicator accepts in a host name, underscores
// included.
func domainProblem(d string) string {
	if d == "" {
		return "has no name, only dots"
	}
	if len(d) > maxDomainLength {
		return fmt.Sprintf("is %d characters long, and a domain has at most %d", len(d), maxDomainLength)
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return "has an empty label (two dots in a row)"
		}
		if len(label) > maxLabelLength {
			return fmt.Sprintf("has a label %d characters long, and a label has at most %d", len(label), maxLabelLength)
		}
		for i := 0; i < len(label); i++ {
			switch c := label[i]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return "is not ASCII; write an internationalised name in punycode (xn--…)"
			default:
				return fmt.Sprintf("contains %s, and a domain has only letters, digits, hyphens, underscores and dots", strconv.QuoteRune(rune(c)))
			}
		}
	}
	return ""
}

// formatSize writes n bytes in the largest binary unit that divides it,
// as an operator would write the value.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
