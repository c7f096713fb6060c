package indicator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

const (
	maxDomainLength = 253
	maxLabelLength  = 63
)

// domain parses a domain name: lower-case, punycode, no trailing dot, at least
// minLabels labels. "www." is kept: it names a different host, and only URL
// normalisation drops it.
func (p parser) domain(minLabels int) (Indicator, *Error) {
	s := p.s
	switch {
	case hasScheme(s) || strings.ContainsAny(s, "/?#@"):
		return Indicator{}, p.fail(Domain, "%s is a URL, not a domain: use type url, or give only the host name.", echo(p.in))
	case strings.Contains(s, "*"):
		return Indicator{}, p.fail(Domain, "%s is a wildcard; TIP looks up one domain at a time: give it without the \"*.\".", echo(p.in))
	case isIPv6(s):
		return Indicator{}, p.fail(Domain, "%s is an IPv6 address, not a domain; TIP looks up IPv4 addresses only.", echo(p.in))
	case ipv4Shaped(s):
		return Indicator{}, p.fail(Domain, "%s is an IP address, not a domain: use type ip.", echo(p.in))
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && isDigits(s[i+1:]) && !strings.Contains(s[:i], ":") {
		return Indicator{}, p.fail(Domain, "%s has a port, and a domain has none: drop %s, or look it up as a URL (type url).",
			echo(p.in), strconv.Quote(s[i:]))
	}
	host, problem := hostName(s)
	if problem != "" {
		return Indicator{}, p.fail(Domain, "%s is not a valid domain: it %s.", echo(p.in), problem)
	}
	labels := strings.Count(host, ".") + 1
	if labels < minLabels {
		return Indicator{}, p.fail(Domain, "%s is not a file hash (MD5, SHA-1 or SHA-256), an IPv4 address, a domain or a URL: a domain has at least two labels, such as example.com.", echo(p.in))
	}
	if tld := host[strings.LastIndexByte(host, '.')+1:]; isDigits(tld) {
		return Indicator{}, p.fail(Domain, "%s is not a valid domain: its last label %s is all digits, and no top-level domain is a number.",
			echo(p.in), strconv.Quote(tld))
	}
	return Indicator{Type: Domain, Value: host}, nil
}

// hostName normalises a host name: IDNA to punycode (only when needed, so
// that plain ASCII names skip the tables), lower case, one trailing dot
// dropped, and checks the label rules of RFC 1123 and RFC 5890: at most 63
// characters a label and 253 in all, letters, digits and hyphens, and no
// hyphen at either end of a label (TIP answers 400 for -x.com and x-.com, and
// a 400 marks TIP's health failing). An internationalised label is checked in
// its Unicode form too, since its punycode always starts with "xn--".
//
// Two departures, both deliberate. Underscores are allowed, in domains and
// in URL hosts alike: real DNS names carry them (_dmarc.example.com), malware
// hosts do (my_host.duckdns.org), nothing known says TIP refuses them (the
// sweep's 400 for a_b-.com is the trailing hyphen's), and the simulator's model
// of TIP accepts them. And "--" in the third and fourth positions (RFC 5891
// §4.2.3.1) is allowed, because CDN host names carry it
// (r3---sn-abc.googlevideo.com). On failure it returns the reason as a
// predicate ("has an empty label").
func hostName(s string) (string, string) {
	if needsIDNA(s) {
		// The IDNA tables would turn invalid UTF-8 into U+FFFD and encode it.
		if !utf8.ValidString(s) {
			return "", "contains bytes that are not UTF-8 text"
		}
		a, err := idnaProfile().ToASCII(s)
		if err != nil {
			// The IDNA error quotes the whole offending label, which can be
			// as long as the input: cut it like any other echo.
			return "", fmt.Sprintf("is not a valid internationalised domain name (%s)", truncate(err.Error()))
		}
		s = a
	}
	s = strings.TrimSuffix(lower(s), ".")
	if s == "" {
		return "", "has no name, only a dot"
	}
	if len(s) > maxDomainLength {
		return "", fmt.Sprintf("is %d characters long once encoded, and a host name has at most %d", len(s), maxDomainLength)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return "", "has an empty label (two dots in a row, or a leading dot)"
		}
		if len(label) > maxLabelLength {
			return "", fmt.Sprintf("has a label %s that is %d characters long, and a label has at most %d",
				strconv.Quote(truncate(label)), len(label), maxLabelLength)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Sprintf("contains %s, and a host name has only letters, digits, hyphens, underscores and dots", quoteByte(c))
			}
		}
		if problem := labelHyphens(label); problem != "" {
			return "", problem
		}
	}
	return s, ""
}

// labelHyphens says why an ASCII label starts or ends with a hyphen, looking
// through punycode ("xn---x-...") to the Unicode label it encodes, or "".
func labelHyphens(label string) string {
	shown := label
	if strings.HasPrefix(label, "xn--") {
		// ToASCII has already decoded and validated every punycode label.
		if u, err := idna.Punycode.ToUnicode(label); err == nil {
			label, shown = u, u+" ("+label+")"
		}
	}
	switch {
	case strings.HasPrefix(label, "-"):
		return fmt.Sprintf("has a label %s that starts with a hyphen, and no label may start or end with one", strconv.Quote(truncate(shown)))
	case strings.HasSuffix(label, "-"):
		return fmt.Sprintf("has a label %s that ends with a hyphen, and no label may start or end with one", strconv.Quote(truncate(shown)))
	}
	return ""
}

// needsIDNA reports whether s has non-ASCII characters or punycode labels,
// which only the IDNA tables can map and validate.
func needsIDNA(s string) bool {
	if !isASCII(s) {
		return true
	}
	for i := 0; i+4 <= len(s); i++ {
		if (i == 0 || s[i-1] == '.') && strings.EqualFold(s[i:i+4], "xn--") {
			return true
		}
	}
	return false
}

// idnaProfile is UTS #46 lookup processing (non-transitional, so ß and ς stay
// themselves as browsers now do) without the STD3 rules, which would reject
// underscores, and without the hyphen checks, which would reject CDN names;
// both are checked by hostName instead.
func idnaProfile() *idna.Profile {
	return idna.New(
		idna.MapForLookup(),
		idna.BidiRule(),
		idna.Transitional(false),
		idna.StrictDomainName(false),
		idna.CheckHyphens(false),
	)
}

func quoteByte(c byte) string {
	if c == ' ' {
		return "a space"
	}
	return strconv.QuoteRune(rune(c))
}
