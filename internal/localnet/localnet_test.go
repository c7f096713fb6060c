package localnet

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
)

// parse is an indicator as tipgate would hold it: through indicator.Parse,
// so the cases below exercise the normalised values the matcher really sees.
func parse(t *testing.T, raw string, typ indicator.Type) indicator.Indicator {
	t.Helper()
	ind, err := indicator.Parse(raw, typ)
	if err != nil {
		t.Fatalf("indicator.Parse(%q, %q): %v", raw, typ, err)
	}
	return ind
}

func TestLocalDefaults(t *testing.T) {
	m := New(DefaultNets(), DefaultDomains())
	tests := []struct {
		in   string
		typ  indicator.Type // "" detects, as the API does
		want bool
	}{
		// The examples.
		{"10.1.2.3", "", true},
		{"http://192.168.0.1/x", "", true},
		{"nas.lan", "", true},
		{"8.8.8.8", "", false},
		{"example.com", "", false},
		{"http://example.com/x", "", false},

		// Every default range, at its edges, and just outside it.
		{"0.0.0.0", "", true},
		{"0.255.255.255", "", true},
		{"1.0.0.0", "", false},
		{"9.255.255.255", "", false},
		{"10.0.0.0", "", true},
		{"10.255.255.255", "", true},
		{"11.0.0.0", "", false},
		{"100.63.255.255", "", false},
		{"100.64.0.0", "", true},
		{"100.127.255.255", "", true},
		{"100.128.0.0", "", false},
		{"127.0.0.1", "", true},
		{"127.255.255.255", "", true},
		{"128.0.0.0", "", false},
		{"169.253.255.255", "", false},
		{"169.254.169.254", "", true},
		{"169.255.0.0", "", false},
		{"172.15.255.255", "", false},
		{"172.16.0.0", "", true},
		{"172.31.255.255", "", true},
		{"172.32.0.0", "", false},
		{"192.0.0.8", "", true},
		{"192.0.1.1", "", false},
		{"192.0.2.1", "", true},
		{"192.0.3.0", "", false},
		{"192.167.255.255", "", false},
		{"192.168.255.255", "", true},
		{"192.169.0.0", "", false},
		{"198.17.255.255", "", false},
		{"198.18.0.0", "", true},
		{"198.19.255.255", "", true},
		{"198.20.0.0", "", false},
		{"198.51.100.7", "", true},
		{"198.51.101.0", "", false},
		{"203.0.113.255", "", true},
		{"203.0.114.0", "", false},
		{"223.255.255.255", "", false},
		{"224.0.0.1", "", true},
		{"239.255.255.255", "", true},
		{"240.0.0.1", "", true},
		{"255.255.255.255", "", true},
		{"010.001.002.003", "", true}, // a zero-padded 10.1.2.3

		// URLs: the host decides, never the path or query.
		{"https://user:pw@10.0.0.5:8443/admin", "", true},
		{"hxxp://172[.]20[.]1[.]1/x", "", true},
		{"http://0x7f.1/", "", true}, // 127.0.0.1 in hex
		{"10.1", indicator.URL, true},
		{"http://printer.local/status", "", true},
		{"http://www.nas.lan/", "", true},
		{"http://LOCALHOST:8080/x", "", true},
		{"http://intranet.corp/?q=1", "", true},
		{"http://router.home.arpa", "", true},
		{"http://example.com/10.0.0.1", "", false},
		{"http://example.com/?next=printer.local", "", false},
		{"http://10.0.0.1.example.com/", "", false},
		{"http://lan.example.com/", "", false},
		{"http://8.8.8.8/x", "", false},

		// Domains: equal to or under a suffix, case and a trailing dot
		// ignored, never a substring.
		{"NAS.LAN.", "", true},
		{"printer.local", "", true},
		{"local", indicator.Domain, true},
		{"notlocal", indicator.Domain, false},
		{"localhost", indicator.Domain, true},
		{"a.b.localhost", "", true},
		{"dc01.ad.internal", "", true},
		{"home.arpa", "", true},
		{"arpa", indicator.Domain, false},
		{"x.home", "", true},
		{"example.corp", "", true},
		{"corp.example.com", "", false},
		{"local.example.com", "", false},
		{"plan.com", "", false},
		{"example.lan.com", "", false},

		// Hashes never are.
		{"d41d8cd98f00b204e9800998ecf8427e", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ind := parse(t, tt.in, tt.typ)
			if got := m.Local(ind); got != tt.want {
				t.Errorf("Local(%s) = %v, want %v", ind, got, tt.want)
			}
		})
	}
}

// TestLocalHandBuilt: values that did not come through indicator.Parse
// still have their host found.
func TestLocalHandBuilt(t *testing.T) {
	m := New(DefaultNets(), DefaultDomains())
	tests := []struct {
		ind  indicator.Indicator
		want bool
	}{
		{indicator.Indicator{Type: indicator.URL, Value: "http://192.168.0.1/x"}, true},
		{indicator.Indicator{Type: indicator.URL, Value: "https://u@Printer.Local.:631/ipp"}, true},
		{indicator.Indicator{Type: indicator.URL, Value: "//10.0.0.1"}, true},
		{indicator.Indicator{Type: indicator.URL, Value: `10.0.0.1\x`}, true},
		{indicator.Indicator{Type: indicator.URL, Value: "example.com/a://10.0.0.1"}, false},
		{indicator.Indicator{Type: indicator.Domain, Value: "NAS.Lan"}, true},
		{indicator.Indicator{Type: indicator.IP, Value: "::ffff:10.0.0.1"}, true},
		{indicator.Indicator{Type: indicator.IP, Value: "not an address"}, false},
		{indicator.Indicator{Type: indicator.Hash, Value: "printer.local"}, false},
		{indicator.Indicator{Type: "email", Value: "a@printer.local"}, false},
		{indicator.Indicator{}, false},
	}
	for _, tt := range tests {
		if got := m.Local(tt.ind); got != tt.want {
			t.Errorf("Local(%s) = %v, want %v", tt.ind, got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	m := New(
		[]netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), {}},
		[]string{"Example.COM.", " ..corp.test ", "", " ", "."},
	)
	tests := []struct {
		in   string
		want bool
	}{
		{"10.200.0.1", true}, // the prefix is masked: 10.0.0.0/8
		{"192.168.0.1", false},
		{"example.com", true},
		{"www.example.com", true},
		{"x.corp.test", true},
		{"corp.test", true},
		{"test.com", false}, // no empty suffix matching everything
		{"printer.local", false},
	}
	for _, tt := range tests {
		if got := m.Local(parse(t, tt.in, "")); got != tt.want {
			t.Errorf("Local(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNothingLocal(t *testing.T) {
	for name, m := range map[string]*Matcher{"nil": nil, "empty": New(nil, nil)} {
		for _, in := range []string{"10.1.2.3", "http://192.168.0.1/x", "nas.lan", "printer.local"} {
			if m.Local(parse(t, in, "")) {
				t.Errorf("%s matcher: Local(%s) = true, want false", name, in)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	nets := DefaultNets()
	for _, p := range nets {
		if !p.Addr().Is4() || p != p.Masked() {
			t.Errorf("default net %s: want a masked IPv4 prefix", p)
		}
	}
	// Each call is a new slice: a caller that appends or edits cannot
	// change another's defaults.
	nets[0] = netip.MustParsePrefix("8.8.8.0/24")
	if DefaultNets()[0] == nets[0] {
		t.Error("DefaultNets shares its slice between calls")
	}
	want := []string{"localhost", "local", "internal", "home.arpa", "lan", "home", "corp"}
	if got := DefaultDomains(); !slices.Equal(got, want) {
		t.Errorf("DefaultDomains() = %v, want %v (DESIGN.md)", got, want)
	}
}

func TestURLHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"example.com/a/b?c", "example.com"},
		{"example.com?q=a/b", "example.com"},
		{"10.0.0.1#frag", "10.0.0.1"},
		{"http://u:p@host:8080/x", "host"},
		{"https://a@b@host/", "host"},
		{"host:", "host"},
		{"host:http", "host:http"},
		{"[::1]:80/x", "::1"},
		{"[::1", ""},
		{"::1", "::1"},
		{"a/b://c", "a"},
		{`http:\\10.0.0.1\x`, "10.0.0.1"},
		{"HXXPS:/\\host/", "host"},
		{"example.com:/x", "example.com"},
		{"1http://host/", "1http"}, // not a scheme: a host with an empty port
		{"", ""},
	}
	for _, tt := range tests {
		if got := urlHost(tt.in); got != tt.want {
			t.Errorf("urlHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzURLHost: urlHost never panics or returns URL syntax, and for any
// URL indicator.Parse accepts, it finds exactly the host the value starts
// with, so a URL is local exactly when its host is.
func FuzzURLHost(f *testing.F) {
	for _, seed := range []string{
		"http://192.168.0.1/x", "https://user:pw@10.0.0.5:8443/a?b", "hxxp://printer[.]local/",
		"http://0x7f.1/", "//[::1]:80/", "example.com/a://10.0.0.1", "10.1", "www.www.nas.lan.",
		"http://example.com/?x=10.0.0.1", `http:\\10.0.0.1\x`, "a@b@c:1/d",
	} {
		f.Add(seed)
	}
	m := New(DefaultNets(), DefaultDomains())
	f.Fuzz(func(t *testing.T, raw string) {
		host := urlHost(raw)
		if strings.ContainsAny(host, `/?#\@`) {
			t.Fatalf("urlHost(%q) = %q, which holds URL syntax", raw, host)
		}
		ind, err := indicator.Parse(raw, indicator.URL)
		if err != nil {
			return
		}
		host = urlHost(ind.Value)
		rest := strings.TrimPrefix(ind.Value, host)
		if host == "" || len(rest) == len(ind.Value) || rest != "" && rest[0] != '/' && rest[0] != '?' {
			t.Fatalf("urlHost(%q) = %q, want the host the value starts with", ind.Value, host)
		}
		hostInd := indicator.Indicator{Type: indicator.Domain, Value: host}
		if _, err := netip.ParseAddr(host); err == nil {
			hostInd.Type = indicator.IP
		}
		if got, want := m.Local(ind), m.Local(hostInd); got != want {
			t.Fatalf("Local(%s) = %v, but Local(%s) = %v", ind, got, hostInd, want)
		}
	})
}
