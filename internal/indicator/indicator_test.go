package indicator

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const (
	md5Lower    = "3935aae80faf8d03781c2d611a4e183f"
	sha1Lower   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	sha256Lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		typ  Type
		want Indicator
	}{
		// Hashes.
		{"md5 upper-case", strings.ToUpper(md5Lower), "", Indicator{Hash, md5Lower}},
		{"sha1 mixed case", "DA39a3ee5e6b4b0d3255bfef95601890AFD80709", "", Indicator{Hash, sha1Lower}},
		{"sha256 with spaces around", "  \t" + sha256Lower + "\n", "", Indicator{Hash, sha256Lower}},
		{"md5 explicit", md5Lower, Hash, Indicator{Hash, md5Lower}},

		// IPv4.
		{"ip", "192.0.2.1", "", Indicator{IP, "192.0.2.1"}},
		{"ip zero-padded from a SIEM is decimal", "010.001.002.003", "", Indicator{IP, "10.1.2.3"}},
		{"ip zero-padded explicit", "192.168.001.010", IP, Indicator{IP, "192.168.1.10"}},
		{"ip all zeros", "0.0.0.0", IP, Indicator{IP, "0.0.0.0"}},
		{"ip broadcast", "255.255.255.255", "", Indicator{IP, "255.255.255.255"}},
		{"ip defanged", "192[.]0[.]2[.]1", "", Indicator{IP, "192.0.2.1"}},
		{"ip defanged dot word", "10(dot)0(DOT)0[dot]1", "", Indicator{IP, "10.0.0.1"}},

		// Domains.
		{"domain", "example.com", "", Indicator{Domain, "example.com"}},
		{"domain upper-case with trailing dot", "EXAMPLE.COM.", "", Indicator{Domain, "example.com"}},
		{"domain keeps www", "www.example.com", "", Indicator{Domain, "www.example.com"}},
		{"domain IDN german", "münchen.de", "", Indicator{Domain, "xn--mnchen-3ya.de"}},
		{"domain IDN cyrillic", "тест.рф", "", Indicator{Domain, "xn--e1aybc.xn--p1ai"}},
		{"domain IDN upper-case", "МОСКВА.РФ", "", Indicator{Domain, "xn--80adxhks.xn--p1ai"}},
		{"domain IDN ideographic full stop", "例子。中国", "", Indicator{Domain, "xn--fsqu00a.xn--fiqs8s"}},
		{"domain punycode kept", "XN--MNCHEN-3YA.DE", "", Indicator{Domain, "xn--mnchen-3ya.de"}},
		{"domain underscore", "_dmarc.example.com", "", Indicator{Domain, "_dmarc.example.com"}},
		{"domain inner hyphen", "a-b.example.com", "", Indicator{Domain, "a-b.example.com"}},
		{"domain CDN hyphens", "r3---sn-apo3qvuoxuxbt-j5pe.googlevideo.com", "", Indicator{Domain, "r3---sn-apo3qvuoxuxbt-j5pe.googlevideo.com"}},
		{"domain defanged brackets", "evil[.]example[.]com", "", Indicator{Domain, "evil.example.com"}},
		{"domain defanged parens and braces", "evil(.)example{.}com", "", Indicator{Domain, "evil.example.com"}},
		{"domain numeric labels", "1.2.3.example", "", Indicator{Domain, "1.2.3.example"}},
		{"domain explicit single label", "localhost", Domain, Indicator{Domain, "localhost"}},
		{"domain explicit tld", "COM", Domain, Indicator{Domain, "com"}},
		{"domain 63-char label", strings.Repeat("a", 63) + ".com", "", Indicator{Domain, strings.Repeat("a", 63) + ".com"}},
		{"domain 253 chars", long253, "", Indicator{Domain, long253}},

		// URLs by detection.
		{"url with scheme", "http://example.com/path", "", Indicator{URL, "example.com/path"}},
		{"url without scheme, path", "example.com/a/b", "", Indicator{URL, "example.com/a/b"}},
		{"url query only", "example.com?id=1", "", Indicator{URL, "example.com?id=1"}},
		{"url fragment only", "example.com#top", "", Indicator{URL, "example.com"}},
		{"url credentials only", "user@example.com", "", Indicator{URL, "example.com"}},
		{"url host and port", "example.com:8080", "", Indicator{URL, "example.com"}},
		{"url ip and port", "192.0.2.1:8080", "", Indicator{URL, "192.0.2.1"}},
		{"url ip with path", "192.0.2.1/bins/x86", "", Indicator{URL, "192.0.2.1/bins/x86"}},
		{"url ip with numeric path", "192.0.2.1/100", "", Indicator{URL, "192.0.2.1/100"}},
		{"url hxxp", "hxxp://evil[.]example[.]com/payload.exe", "", Indicator{URL, "evil.example.com/payload.exe"}},
		{"url HXXPS upper", "HXXPS://evil.example.com/x", "", Indicator{URL, "evil.example.com/x"}},
		{"url defanged colon", "hxxps[:]//evil[.]com/x", "", Indicator{URL, "evil.com/x"}},
		{"url defanged scheme separator", "http[://]evil.com[/]x", "", Indicator{URL, "evil.com/x"}},
		{"url tcp scheme", "tcp://192.0.2.1:4444", "", Indicator{URL, "192.0.2.1"}},
		{"url ftp scheme", "ftp://files.example.com/pub/a.zip", "", Indicator{URL, "files.example.com/pub/a.zip"}},
		{"url registered scheme without slashes", "http:example.com/x", "", Indicator{URL, "example.com/x"}},
		{"url mailto drops the user", "mailto:someone@example.com", "", Indicator{URL, "example.com"}},
		{"url IDN host", "https://münchen.de/Straße", "", Indicator{URL, "xn--mnchen-3ya.de/straße"}},
		{"url IDN host percent-encoded", "http://%D1%82%D0%B5%D1%81%D1%82.%D1%80%D1%84/", "", Indicator{URL, "xn--e1aybc.xn--p1ai"}},
		{"url www dropped", "https://www.example.com/", "", Indicator{URL, "example.com"}},
		{"url www2 kept", "https://www2.example.com/", "", Indicator{URL, "www2.example.com"}},
		{"url query order and duplicates kept", "https://example.com/s?b=2&a=1&b=2", "", Indicator{URL, "example.com/s?b=2&a=1&b=2"}},
		{"url query literal plus", "https://example.com/s?q=a+b", "", Indicator{URL, "example.com/s?q=a+b"}},
		{"url query encoded plus", "https://example.com/s?q=a%2Bb", "", Indicator{URL, "example.com/s?q=a+b"}},
		{"url query nul dropped", "https://example.com/s?q=a%00b", "", Indicator{URL, "example.com/s?q=ab"}},
		{"url query only nul", "https://example.com/s?%00", "", Indicator{URL, "example.com/s"}},
		{"url empty query", "https://example.com/s/?", "", Indicator{URL, "example.com/s"}},
		{"url query slashes collapsed", "https://example.com/r?u=https://evil.com/x", "", Indicator{URL, "example.com/r?u=https:/evil.com/x"}},
		{"url path encoded slash decoded", "https://example.com/a%2Fb", "", Indicator{URL, "example.com/a/b"}},
		{"url path space", "https://example.com/my%20file.pdf", "", Indicator{URL, "example.com/my file.pdf"}},
		{"url path raw space", "https://example.com/my file.pdf", "", Indicator{URL, "example.com/my file.pdf"}},
		{"url path encoded dots are data", "https://example.com/a/%2e%2e/b", "", Indicator{URL, "example.com/a/../b"}},
		{"url path half-encoded dots are data", "https://example.com/a/.%2E/b", "", Indicator{URL, "example.com/a/../b"}},
		{"url path encoded dot is data", "https://example.com/a/%2e", "", Indicator{URL, "example.com/a/."}},
		{"url path dots around encoded slashes", "https://example.com/a/b/..%2F../c", "", Indicator{URL, "example.com/a/b/../../c"}},
		{"url path literal dots before encoded ones", "https://example.com/a/b/../%2e%2e/c", "", Indicator{URL, "example.com/a/../c"}},
		{"url path dots inside a segment kept", "https://example.com/a/..b/c..", "", Indicator{URL, "example.com/a/..b/c.."}},
		{"url path above root", "https://example.com/../../a", "", Indicator{URL, "example.com/a"}},
		{"url path dot keeps slash before query", "https://example.com/a/.?x=1", "", Indicator{URL, "example.com/a/?x=1"}},
		{"url path encoded question mark", "https://example.com/a%3Fb", "", Indicator{URL, "example.com/a%3Fb"}},
		{"url path encoded hash", "https://example.com/a%23b", "", Indicator{URL, "example.com/a%23b"}},
		{"url double encoding decoded once", "https://example.com/a%2541", "", Indicator{URL, "example.com/a%2541"}},
		{"url lone percent", "https://example.com/100%", "", Indicator{URL, "example.com/100%"}},
		{"url latin-1 byte kept encoded", "https://example.com/caf%E9", "", Indicator{URL, "example.com/caf%E9"}},
		{"url utf-8 decoded", "https://example.com/caf%C3%A9", "", Indicator{URL, "example.com/café"}},
		{"url zero-width space encoded", "https://example.com/a%E2%80%8Bb", "", Indicator{URL, "example.com/a%E2%80%8Bb"}},
		{"url trailing space kept encoded", "https://example.com/a%20", "", Indicator{URL, "example.com/a%20"}},
		{"url encoded defang marker kept", "https://example.com/a%5B.%5Db", "", Indicator{URL, "example.com/a%5B.]b"}},
		{"url backslashes after scheme", `http:\\example.com/x`, "", Indicator{URL, "example.com/x"}},
		{"url protocol-relative", "//example.com/x", "", Indicator{URL, "example.com/x"}},
		{"url octal host", "http://010.001.002.003/", "", Indicator{URL, "8.1.2.3"}},
		{"url hex host", "http://0x7F.1/", "", Indicator{URL, "127.0.0.1"}},
		{"url empty port", "http://example.com:/x", "", Indicator{URL, "example.com/x"}},
		{"url underscore host", "http://_sip._tcp.example.com/", "", Indicator{URL, "_sip._tcp.example.com"}},
		{"url underscore and inner hyphen host", "http://a_b-c.com/", "", Indicator{URL, "a_b-c.com"}},
		{"url localhost", "http://localhost/", "", Indicator{URL, "localhost"}},
		{"url many www", "http://www.www.example.com/", "", Indicator{URL, "example.com"}},
		{"url host is www.com", "http://www.com/", "", Indicator{URL, "com"}},
		{"url path upper-case", "https://example.com/Download/Setup.EXE", "", Indicator{URL, "example.com/download/setup.exe"}},
		{"url unregistered scheme-looking word", "info:8080/x", "", Indicator{URL, "info/x"}},

		// URLs by explicit type.
		{"url explicit domain", "example.com", URL, Indicator{URL, "example.com"}},
		{"url explicit www domain", "WWW.Example.com.", URL, Indicator{URL, "example.com"}},
		{"url explicit ip", "1.2.3.4", URL, Indicator{URL, "1.2.3.4"}},
		{"url explicit zero-padded ip is octal", "010.001.002.003", URL, Indicator{URL, "8.1.2.3"}},
		{"url explicit single label", "intranet", URL, Indicator{URL, "intranet"}},
		{"url explicit single integer", "1249463144", URL, Indicator{URL, "74.121.75.104"}},
		{"url explicit two parts", "10.1", URL, Indicator{URL, "10.0.0.1"}},
		{"url explicit three parts", "10.1.258", URL, Indicator{URL, "10.1.1.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.typ)
			if err != nil {
				t.Fatalf("Parse(%q, %q) error: %v", tt.in, tt.typ, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q, %q) = %v, want %v", tt.in, tt.typ, got, tt.want)
			}
			checkIdempotent(t, got)
		})
	}
}

var long253 = strings.Repeat(strings.Repeat("a", 62)+".", 4)[:249] + ".com"

// TestURLWorkedExamples holds every example of tip-api.md §6: the rules, the
// reference tool's observed behaviour and the worked-examples table.
func TestURLWorkedExamples(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// The thirteen rules.
		{"http://www.example.com/../a/b/../c/./d.html", "example.com/a/c/d.html"},
		{"http://example.com", "example.com"},
		{"тест.рф", "xn--e1aybc.xn--p1ai"},
		{"www.example.com", "example.com"},
		{"www2.example.com", "www2.example.com"},
		{"example.com//dir/test.html", "example.com/dir/test.html"},
		{"example.com/", "example.com"},
		{"login:password@example.com", "example.com"},
		{"example.com:80/index", "example.com/index"},
		{"example.com#fragment", "example.com"},
		{"example.com./index.html", "example.com/index.html"},
		{"EXAMPLE.COM", "example.com"},
		{"0112.0175.0117.0150", "74.125.79.104"},
		{"0x7f000001", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"example.com/a%2Fb", "example.com/a/b"},
		{"example.com/?a=1%00", "example.com/?a=1"},
		{"example.com/?a=1+2", "example.com/?a=1+2"},
		// Observed behaviour of the reference tool.
		{"example.com/?b=2&a=1&b=2", "example.com/?b=2&a=1&b=2"},
		{"https://www.example.com:443/?q=hello%20world#fragment", "example.com/?q=hello world"},
		{"localhost:8080/admin", "localhost/admin"},
		{"hxxp://example.com/a", "example.com/a"},
		{"hxxps://example.com/a", "example.com/a"},
		{"http://example.com:80", "example.com"},
		// Worked examples.
		{"HTTPS://EXAMPLE.COM/Path/File.HTML?Q=ABC", "example.com/path/file.html?q=abc"},
		{"HTTP://www.Example.COM:8080/A/B/?X=Y#Z", "example.com/a/b/?x=y"},
		{"https://user@www.Example.com./A//B/../C/?Q=1&Q=2#F", "example.com/a/c/?q=1&q=2"},
		{"http://user:p%40ss@example.com:8443//a//b/?c=d&e=f#g", "example.com/a/b/?c=d&e=f"},
		{"https://example.com:443/path?q=hello%20world", "example.com/path?q=hello world"},
		{"example.com/a/./b/../c/", "example.com/a/c"},
		{"http://1249463144/", "74.121.75.104"},
		// tip-api.md §1.3: what the Kaspersky-authored client normalises.
		{"http://www.Example.com:8080/a/b?x=1", "example.com/a/b?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, URL)
			if err != nil {
				t.Fatalf("Parse(%q, url) error: %v", tt.in, err)
			}
			if want := (Indicator{URL, tt.want}); got != want {
				t.Fatalf("Parse(%q, url) = %v, want %v", tt.in, got, want)
			}
			checkIdempotent(t, got)
		})
	}
}

// TestURLDotSegmentsBeforeDecoding holds tip-api.md §6 rules 1 and 13 in
// their order: dot segments are resolved first and percent-decoding comes
// last, so an escaped dot segment is a path segment named "..", never a step
// up, written literally as the reference tool writes it.
func TestURLDotSegmentsBeforeDecoding(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"http://a.com/%2e%2e/%2e%2e/", "a.com/../.."},
		{"http://x.com/..%2f..%2fapi%2fhash", "x.com/../../api/hash"},
		{"http://x.com/a/%2E%2E/b/../c", "x.com/a/../c"},
		{"http://x.com/a/./%2e/?q=1", "x.com/a/./?q=1"},
		{"http://x.com/%2e%2e%2f%2fa", "x.com/../a"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in, URL)
			if err != nil {
				t.Fatalf("Parse(%q, url) error: %v", tt.in, err)
			}
			if want := (Indicator{URL, tt.want}); got != want {
				t.Fatalf("Parse(%q, url) = %v, want %v", tt.in, got, want)
			}
			checkIdempotent(t, got)
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		typ      Type
		wantType Type
		// wantReason is a part of the reason that tells the person what to do.
		wantReason string
	}{
		{"empty", "", "", "", "is empty"},
		{"only spaces", " \t\n ", URL, URL, "is empty"},
		{"too long", strings.Repeat("a", MaxInputBytes+1), "", "", "longest accepted is 8192 bytes"},
		{"unknown type", "example.com", "email", "", `unknown type "email"`},
		{"control character", "exa\x00mple.com", "", "", "control character (U+0000)"},
		{"inner newline", "example.com\nevil.com", "", "", "control character (U+000A)"},
		{"C1 control", "exa\u0085mple.com", "", "", "control character (U+0085)"},
		{"generic word", "abc", "", "", `"abc" is not a file hash (MD5, SHA-1 or SHA-256), an IPv4 address, a domain or a URL.`},
		{"generic sentence", "hello world", "", "", "is not a file hash"},

		// Hashes.
		{"hash 31 hex digits", md5Lower[:31], "", Hash, "has 31 hex digits"},
		{"hash 33 hex digits", md5Lower + "a", "", Hash, "has 33 hex digits"},
		{"hash 63 hex digits", sha256Lower[:63], "", Hash, "64 (SHA-256)"},
		{"hash explicit not hex", "zz" + md5Lower[2:], Hash, Hash, "hex digits"},
		{"hash explicit with prefix", "md5:" + md5Lower, Hash, Hash, "is not a file hash"},
		{"hash explicit inner space", md5Lower[:16] + " " + md5Lower[16:], Hash, Hash, "nothing between them"},

		// IPv4.
		{"ip octet over 255", "192.0.2.256", "", IP, `"256" is not a number from 0 to 255`},
		{"ip big octet", "999.1.1.1", "", IP, "from 0 to 255"},
		{"ip four-digit octet", "1.2.3.0004", IP, IP, "from 0 to 255"},
		{"ip short form", "1.2.3", "", IP, "has 3 parts"},
		{"ip five parts", "1.2.3.4.5", "", IP, "has 5 parts"},
		{"ip empty part", "1..2.3", "", IP, "empty part"},
		{"ip trailing dot", "1.2.3.4.", IP, IP, "has 5 parts"},
		{"ipv6", "2001:db8::1", "", IP, "IPv6"},
		{"ipv6 bracketed", "[2001:db8::1]", IP, IP, "IPv6"},
		{"ipv6 loopback explicit", "::1", IP, IP, "IPv4 addresses only"},
		{"ipv4-mapped ipv6", "::ffff:192.0.2.1", "", IP, "IPv6"},
		{"ip cidr", "192.0.2.0/24", "", IP, "network range (CIDR)"},
		{"ip cidr explicit", "192.0.2.0/24", IP, IP, `such as "192.0.2.0"`},
		{"ipv6 cidr", "2001:db8::/32", "", IP, "CIDR"},
		{"ip port explicit", "192.0.2.1:8080", IP, IP, `drop ":8080"`},
		{"ip with domain", "example.com", IP, IP, "is not an IPv4 address"},
		{"ip with url", "http://192.0.2.1/", IP, IP, "is a URL"},
		{"ip hex explicit", "0x7f000001", IP, IP, "is not an IPv4 address"},
		{"ip octet with sign", "1.2.3.+4", IP, IP, "is not an IPv4 address"},

		// Domains.
		{"domain with url explicit", "http://x.com/", Domain, Domain, "is a URL, not a domain"},
		{"domain with path explicit", "x.com/a", Domain, Domain, "use type url"},
		{"domain wildcard", "*.example.com", "", Domain, "wildcard"},
		{"domain wildcard explicit", "*.example.com", Domain, Domain, "without the \"*.\""},
		{"domain with ip explicit", "192.0.2.1", Domain, Domain, "use type ip"},
		{"domain with port explicit", "example.com:443", Domain, Domain, `drop ":443"`},
		{"domain ipv6 explicit", "2001:db8::1", Domain, Domain, "IPv6"},
		{"domain numeric tld", "example.123", "", Domain, "all digits"},
		{"domain numeric tld explicit", "example.123", Domain, Domain, "no top-level domain is a number"},
		{"domain empty label", "example..com", "", Domain, "empty label"},
		{"domain leading dot", ".example.com", "", Domain, "empty label"},
		{"domain two trailing dots", "example.com..", "", Domain, "empty label"},
		{"domain only dot", ".", Domain, Domain, "only a dot"},
		{"domain label too long", strings.Repeat("a", 64) + ".com", "", Domain, "at most 63"},
		{"domain too long", "a" + long253, "", Domain, "at most 253"},
		{"domain inner space", "exa mple.com", "", Domain, "contains a space"},
		{"domain bad character", "exa!mple.com", "", Domain, `contains '!'`},
		{"domain single label detected", "localhost.", "", Domain, "at least two labels"},
		{"domain bad punycode", "xn--zz.com", "", Domain, "internationalised"},
		{"domain IDN disallowed rune", "exa\ue000mple.com", Domain, Domain, "is not a valid domain"},
		{"domain looser refang is not applied", "evil dot com", "", "", "is not a file hash"},
		{"domain half-defanged", "evil[.com", "", Domain, `contains '['`},
		{"domain leading hyphen", "-x.com", "", Domain, `label "-x" that starts with a hyphen`},
		{"domain trailing hyphen", "x-.com", "", Domain, `label "x-" that ends with a hyphen`},
		{"domain trailing hyphen explicit", "x-.com", Domain, Domain, "no label may start or end with one"},
		{"domain hyphen on the tld", "x.com-", Domain, Domain, `label "com-" that ends with a hyphen`},
		{"domain only a hyphen", "a.-.com", "", Domain, `label "-" that starts with a hyphen`},
		{"domain underscore and trailing hyphen", "a_b-.com", "", Domain, `label "a_b-" that ends with a hyphen`},
		{"domain IDN trailing hyphen", "münchen-.de", "", Domain, `label "münchen- (xn--mnchen--n2a)" that ends with a hyphen`},
		{"domain IDN leading hyphen", "-münchen.de", Domain, Domain, "starts with a hyphen"},
		{"domain punycode of a leading hyphen", "xn---mnchen-o2a.de", "", Domain, `label "-münchen (xn---mnchen-o2a)" that starts with a hyphen`},
		{"domain full-width hyphen mapped", "x\uff0d.com", "", Domain, `label "x-" that ends with a hyphen`},

		// URLs.
		{"url ipv6 host", "http://[2001:db8::1]/", "", URL, "IPv6"},
		{"url ipv6 host with port", "[2001:db8::1]:443", "", URL, "IPv6"},
		{"url bad port", "http://example.com:abc/", "", URL, `port "abc"`},
		{"url port too big", "http://example.com:65536/", "", URL, "from 0 to 65535"},
		{"url no host", "http:///", "", URL, "no host"},
		{"url only credentials", "http://user:pass@/x", "", URL, "no host"},
		{"url query without host", "?q=1", URL, URL, "no host"},
		{"url host with space", "http://exa mple.com/", "", URL, "contains a space"},
		{"url host empty label", "http://example..com/", "", URL, "empty label"},
		{"url host bad octet", "http://1.2.3.256/", "", URL, "out of range"},
		{"url host five numeric parts", "http://1.2.3.4.5/", "", URL, "more than four parts"},
		{"url host numeric tld", "http://example.123/", "", URL, "neither a domain nor an IPv4 address"},
		{"url host bad octal", "http://09.1.1.1/", "", URL, "not a decimal, octal or hex number"},
		{"url host bad percent", "http://exa%zzmple.com/", "", URL, "percent-escape"},
		{"url host percent-encoded slash", "http://a%2Fb.com/", "", URL, "contains '/'"},
		{"url path control char", "http://example.com/a%0Ab", "", URL, "path contains a control character (U+000A)"},
		{"url path nul", "http://example.com/a%00", "", URL, "U+0000"},
		{"url query control char", "http://example.com/?a=%0D%0A", "", URL, "query contains a control character (U+000D)"},
		{"url too long", "http://example.com/" + strings.Repeat("a", MaxURLLength), "", URL, "at most 2000"},
		{"url javascript", "javascript:alert(1)", URL, URL, "port"},
		{"url host leading hyphen", "http://-x.com/", "", URL, `its host has a label "-x" that starts with a hyphen`},
		{"url host trailing hyphen", "http://x-.com/", "", URL, `its host has a label "x-" that ends with a hyphen`},
		{"url host underscore and trailing hyphen", "http://a_b-.com/", "", URL, `its host has a label "a_b-" that ends with a hyphen`},
		{"url explicit hyphen domain", "-x.com", URL, URL, "starts with a hyphen"},
		{"url host www then hyphen", "http://www.-x.com/a", "", URL, "starts with a hyphen"},
		{"url host percent-encoded hyphen", "http://x%2D.com/", "", URL, "ends with a hyphen"},
		{"url idn error echo bounded", strings.Repeat("0", 500) + "\u0677#", "", URL, "internationalised"},
		{"url idn host invalid", "http://exa\ue000mple.com/", URL, URL, "internationalised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.typ)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %v, want an error", tt.in, tt.typ, got)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Parse(%q, %q) error is %T, want *Error", tt.in, tt.typ, err)
			}
			if ie.Type != tt.wantType {
				t.Errorf("Parse(%q, %q) error type = %q, want %q", tt.in, tt.typ, ie.Type, tt.wantType)
			}
			if !strings.Contains(ie.Reason, tt.wantReason) {
				t.Errorf("Parse(%q, %q) reason = %q, want it to contain %q", tt.in, tt.typ, ie.Reason, tt.wantReason)
			}
			if ie.Error() != ie.Reason {
				t.Errorf("Error() = %q, want the reason %q", ie.Error(), ie.Reason)
			}
			checkReason(t, ie)
		})
	}
}

// checkReason checks what every error promises: a sentence, bounded in
// size, that repeats at most a prefix of the input.
func checkReason(t *testing.T, e *Error) {
	t.Helper()
	if e.Reason == "" || !strings.HasSuffix(e.Reason, ".") {
		t.Errorf("reason %q is not a sentence", e.Reason)
	}
	if len(e.Input) > maxEcho+len("…") {
		t.Errorf("error input is %d bytes, want at most %d", len(e.Input), maxEcho+len("…"))
	}
	if len(e.Reason) > 600 {
		t.Errorf("reason is %d bytes, want it bounded: %q", len(e.Reason), e.Reason)
	}
	if _, ok := firstControl(e.Reason); ok {
		t.Errorf("reason %q contains a control character", e.Reason)
	}
}

func TestErrorEchoesABoundedPrefix(t *testing.T) {
	in := "ünï" + strings.Repeat("x", 5000) + ".com/" // not valid in any type
	_, err := Parse(in, Hash)
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("Parse error is %T (%v), want *Error", err, err)
	}
	if !utf8.ValidString(ie.Input) || !strings.HasSuffix(ie.Input, "…") || !strings.HasPrefix(in, strings.TrimSuffix(ie.Input, "…")) {
		t.Errorf("error input = %q, want a valid UTF-8 prefix of the input ending in …", ie.Input)
	}
	if strings.Contains(ie.Reason, strings.Repeat("x", maxEcho)) {
		t.Errorf("reason %q repeats more than %d characters of the input", ie.Reason, maxEcho)
	}
}

func TestHashKind(t *testing.T) {
	tests := []struct{ in, want string }{
		{md5Lower, "md5"},
		{strings.ToUpper(sha1Lower), "sha1"},
		{sha256Lower, "sha256"},
		{md5Lower[:31], ""},
		{"g" + md5Lower[1:], ""},
		{"", ""},
		{strings.Repeat("a", 128), ""},
	}
	for _, tt := range tests {
		if got := HashKind(tt.in); got != tt.want {
			t.Errorf("HashKind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{"", "", false},
		{"hash", Hash, false},
		{" IP ", IP, false},
		{"Domain", Domain, false},
		{"URL", URL, false},
		{"ipv4", "", true},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, typ := range Types() {
		if got, err := ParseType(string(typ)); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %q, %v; want it back", typ, got, err)
		}
	}
}

func TestRefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hxxp://a[.]b", "http://a.b"},
		{"HxXpS://a(.)b{.}c", "https://a.b.c"},
		{"a[DOT]b(Dot)c", "a.b.c"},
		{"http[:]//a", "http://a"},
		{"http[://]a[/]b", "http://a/b"},
		{"x/hxxp://y", "x/hxxp://y"}, // hxxp only as the scheme
		{"a[.b", "a[.b"},
		{"[", "["},
	}
	for _, tt := range tests {
		if got := refang(tt.in); got != tt.want {
			t.Errorf("refang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkIdempotent checks the property the cache relies on: the Value parses
// back to itself, and it holds no whitespace or control characters beyond
// the spaces a URL path or query may hold.
func checkIdempotent(t *testing.T, v Indicator) {
	t.Helper()
	again, err := Parse(v.Value, v.Type)
	if err != nil {
		t.Fatalf("Parse(%q, %q) of a parsed value: %v", v.Value, v.Type, err)
	}
	// A URL whose path keeps a literal dot segment (one that was escaped in
	// the input) is the documented exception: parsed again, it is resolved.
	if again != v && !(v.Type == URL && hasDotSegment(v.Value)) {
		t.Fatalf("Parse(%q, %q) = %v, want it unchanged", v.Value, v.Type, again)
	}
	for _, r := range v.Value {
		if unicode.IsControl(r) || unicode.IsSpace(r) && (r != ' ' || v.Type != URL) {
			t.Fatalf("value %q contains %U", v.Value, r)
		}
	}
	if v.Value != strings.TrimSpace(v.Value) || v.Value == "" {
		t.Fatalf("value %q is empty or has surrounding space", v.Value)
	}
}

// hasDotSegment reports whether a URL Value's path has a "." or ".."
// segment.
func hasDotSegment(value string) bool {
	path, _, _ := strings.Cut(value, "?")
	for _, seg := range strings.Split(path, "/")[1:] {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		md5Lower, strings.ToUpper(sha256Lower), "010.001.002.003", "1.2.3.4:80", "192.0.2.0/24", "::1",
		"münchen.de", "тест.рф", "_dmarc.example.com", "evil[.]com", "*.example.com",
		"hxxps[:]//www[.]Example.com:8443/A//b/../c/?Q=1&Q=2#F", "http://user:p%40ss@example.com/%2e%2e/%2F?a=%00%2500+b",
		"localhost:8080/admin", "http://0x7f.1/", "http://[::1]/", "example.com/a%3F%23%5B.%5D%20", "example.com/%E9%E2%80%8B",
		"mailto:a@b.c", "//a//b", "http:\\\\x.y\\z", "www.www.example.com/?",
		"http://a.com/%2e%2e/%2e%2e/", "http://x.com/..%2f..%2fapi%2fhash", "x.com/a/./.%2E/%2e/b/../?q", "-x.com", "http://a_b-.com/",
		"xn---mnchen-o2a.de",
	} {
		for _, typ := range append(Types(), "") {
			f.Add(s, string(typ))
		}
	}
	f.Fuzz(func(t *testing.T, in, typ string) {
		v, err := Parse(in, Type(typ))
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Parse(%q, %q) error is %T, want *Error", in, typ, err)
			}
			checkReason(t, ie)
			return
		}
		if typ != "" && v.Type != Type(typ) {
			t.Fatalf("Parse(%q, %q) type = %q, want %q", in, typ, v.Type, typ)
		}
		if v.Type == URL && len(v.Value) > MaxURLLength {
			t.Fatalf("Parse(%q, %q) value is %d bytes, over %d", in, typ, len(v.Value), MaxURLLength)
		}
		checkIdempotent(t, v)
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bb := range []struct {
		name string
		in   string
		typ  Type
	}{
		{"hash", strings.ToUpper(sha256Lower), ""},
		{"ip", "010.001.002.003", ""},
		{"domain", "Evil.Example.com.", ""},
		{"domain-idn", "münchen.de", ""},
		{"url", "hxxps://www.Example.com:8443/A//B/../C/?Q=1&Q=2#F", ""},
		{"url-encoded", "http://user:p%40ss@example.com/a%20b/c%2Fd?x=%E2%9C%93&y=1", URL},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bb.in, bb.typ); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
