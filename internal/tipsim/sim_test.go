package tipsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestClassicModeRefusesConnectionsWithoutCertificate(t *testing.T) {
	env := startSim(t, Options{RequireClientCert: true})
	if _, err := env.try(env.bare, http.MethodGet, env.basic, "/api/ip/8.8.8.8"); err == nil {
		t.Fatal("request without a client certificate: got an answer, want a failed handshake")
	}
	if got := env.lookup(t, "/api/ip/8.8.8.8").status; got != http.StatusOK {
		t.Errorf("request with a client certificate: got %d, want 200", got)
	}
}

func TestAuthentication(t *testing.T) {
	const token = "s3cret-token"
	env := startSim(t, Options{Token: token})
	other := newCreds(t) // a certificate from a CA the simulator does not trust
	tests := []struct {
		name   string
		client *http.Client
		auth   func(*http.Request)
		want   int
	}{
		{"basic with certificate", env.client, env.basic, 200},
		{"basic without certificate", env.bare, env.basic, 401},
		{"basic with untrusted certificate", nil, env.basic, 0}, // the handshake fails
		{"basic wrong password", env.client, func(r *http.Request) { r.SetBasicAuth(env.creds.Username, "wrong") }, 401},
		{"basic wrong user", env.client, func(r *http.Request) { r.SetBasicAuth("someone", env.creds.Password) }, 401},
		{"certificate only", env.client, nil, 401},
		{"nothing", env.bare, nil, 401},
		{"bearer without certificate", env.bare, bearer(token), 200},
		{"bearer with certificate", env.client, bearer(token), 200},
		{"bearer wrong token", env.bare, bearer("nope"), 401},
		{"bearer empty", env.bare, bearer(""), 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client
			if client == nil {
				client = tlsClientFor(t, env.creds, other)
			}
			a, err := env.try(client, http.MethodGet, tc.auth, "/api/domain/example.com?sections=Zone")
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("got status %d, want a failed handshake", a.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if a.status != tc.want {
				t.Errorf("status: got %d, want %d (body %s)", a.status, tc.want, a.body)
			}
			if a.status == 401 && a.header.Get("Content-Type") != "application/json" {
				t.Errorf("401 Content-Type: got %q, want application/json", a.header.Get("Content-Type"))
			}
		})
	}
}

// tlsClientFor trusts server's CA but presents the client certificate of
// other credentials.
func tlsClientFor(t *testing.T, server, other *Credentials) *http.Client {
	t.Helper()
	c := tlsClient(t, other, true)
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = server.ClientCAs()
	return c
}

func TestBearerOnlySimulatorRejectsBasic(t *testing.T) {
	sim := New(Options{Token: "tok"})
	srv := startPlain(t, sim)
	req, _ := http.NewRequest(http.MethodGet, srv+"/api/hash/"+FixtureMD5, nil)
	req.SetBasicAuth("user", "pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Basic without credentials configured: got %d, want 401", resp.StatusCode)
	}
}

func TestListenNeedsCredentials(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", New(Options{Token: "x"})); err == nil {
		t.Error("Listen without credentials: got nil error, want one")
	}
}

func TestSectionsSelection(t *testing.T) {
	env := startSim(t, Options{})
	cat := newCatalog()
	tests := []struct {
		path string
		want string // sorted keys
	}{
		{"/api/domain/example.com?sections=Zone,DomainGeneralInfo", "DomainGeneralInfo,Zone"},
		{"/api/domain/example.com?sections=DomainGeneralInfo%2CZone", "DomainGeneralInfo,Zone"},
		{"/api/domain/example.com?sections=Zone&sections=LicenseInfo", "LicenseInfo,Zone"},
		{"/api/domain/example.com?sections=Zone,,Zone,", "Zone"},
		{"/api/ip/8.8.4.4?count=1&sections=IpWhoIs", "IpWhoIs"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := sortedKeys(env.lookup(t, tc.path).sections(t)); got != tc.want {
				t.Errorf("sections: got %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("all sections by default", func(t *testing.T) {
		for _, typ := range indicator.Types() {
			got := env.lookup(t, "/api/"+string(typ)+"/"+escapeSegment(ordinary[typ])).sections(t)
			for _, s := range cat[typ] {
				if _, ok := got[s.name]; !ok {
					t.Errorf("%s: section %s missing from a request without sections", typ, s.name)
				}
			}
			if len(got) != len(cat[typ]) {
				t.Errorf("%s: got %d sections, want %d", typ, len(got), len(cat[typ]))
			}
		}
	})
}

// ordinary indicators: nothing forces their outcome, and each is in a zone
// with data in every list (checked by TestOrdinaryIndicators).
var ordinary = map[indicator.Type]string{
	indicator.Hash:   "098f6bcd4621d373cade4e832627b4f6",
	indicator.IP:     "185.220.101.1",
	indicator.Domain: "example.com",
	indicator.URL:    "example.com/path/file.exe?x=1",
}

func TestCountCapsCountedListsOnly(t *testing.T) {
	env := startSim(t, Options{})
	cat := newCatalog()
	for _, typ := range indicator.Types() {
		t.Run(string(typ), func(t *testing.T) {
			full := env.lookup(t, "/api/"+string(typ)+"/"+escapeSegment(ordinary[typ])+"?count=1000").sections(t)
			for _, count := range []int{1, 2, 5} {
				cut := env.lookup(t, "/api/"+string(typ)+"/"+escapeSegment(ordinary[typ])+"?count="+itoa(count)).sections(t)
				for _, s := range cat[typ] {
					if !s.list {
						continue
					}
					fullItems := decode[[]json.RawMessage](t, full[s.name])
					cutItems := decode[[]json.RawMessage](t, cut[s.name])
					want := fullItems
					if !s.uncounted && len(want) > count {
						want = want[:count]
					}
					if !equalRaw(cutItems, want) {
						t.Errorf("%s count=%d: got %d items, want the first %d of %d", s.name, count, len(cutItems), len(want), len(fullItems))
					}
				}
			}
		})
	}
	t.Run("default count is 1000", func(t *testing.T) {
		a := env.lookup(t, "/api/domain/example.com?sections=Subdomains")
		b := env.lookup(t, "/api/domain/example.com?sections=Subdomains&count=1000")
		if !bytes.Equal(a.body, b.body) {
			t.Errorf("without count: got %s, want %s", a.body, b.body)
		}
	})
}

func TestOrdinaryIndicators(t *testing.T) {
	// The count test above is only meaningful if the lists are long enough
	// to be cut; this guards its choice of indicators.
	cat := newCatalog()
	for typ, v := range ordinary {
		zone, found := Outcome(typ, v)
		if !found || zone == ZoneGrey || zone == ZoneGreen {
			t.Errorf("%s %s: got zone %s found %v, want a found Red, Orange or Yellow indicator", typ, v, zone, found)
		}
		long := 0
		for _, s := range cat[typ] {
			if data, ok := generate(typ, canonical(typ, v), zone, s.name); ok {
				if items, isList := data.([]any); isList && len(items) > 2 {
					long++
				}
			}
		}
		if long < 3 {
			t.Errorf("%s %s: got %d lists longer than 2, want at least 3", typ, v, long)
		}
	}
}

func TestZonesReachable(t *testing.T) {
	env := startSim(t, Options{})
	for _, zone := range []string{ZoneRed, ZoneOrange, ZoneYellow, ZoneGrey, ZoneGreen} {
		label := strings.ToLower(zone)
		for _, path := range []string{
			"/api/domain/" + label + ".example.net",
			"/api/url/" + label + ".example.net%2Fdownload%2Fa.exe",
		} {
			t.Run(path, func(t *testing.T) {
				got := decode[string](t, env.lookup(t, path+"?sections=Zone").sections(t)["Zone"])
				if got != zone {
					t.Errorf("Zone: got %s, want %s", got, zone)
				}
			})
		}
	}
}

func TestDrawnZones(t *testing.T) {
	seen := map[indicator.Type]map[string]bool{}
	for i := range 400 {
		for _, typ := range []indicator.Type{indicator.Hash, indicator.Domain} {
			v := "host" + itoa(i) + ".example"
			if typ == indicator.Hash {
				v = strings.Repeat("ab", 14) + itoa(1000+i)
			}
			z, found := Outcome(typ, v)
			if !found {
				t.Fatalf("%s %s: got not found, want found", typ, v)
			}
			if seen[typ] == nil {
				seen[typ] = map[string]bool{}
			}
			seen[typ][z] = true
		}
	}
	if seen[indicator.Hash][ZoneOrange] {
		t.Error("hashes: got an Orange zone, want never")
	}
	if got := len(seen[indicator.Hash]); got != 4 {
		t.Errorf("hashes: got %d distinct zones, want 4", got)
	}
	if got := len(seen[indicator.Domain]); got != 5 {
		t.Errorf("domains: got %d distinct zones, want 5", got)
	}
}

func TestNotFound(t *testing.T) {
	env := startSim(t, Options{})
	for _, path := range []string{
		"/api/hash/0000aae80faf8d03781c2d611a4e183f",
		"/api/hash/0000" + strings.Repeat("F", 60),
		"/api/ip/192.0.2.1",
		"/api/ip/192.0.2.255",
		"/api/domain/notfound.example.com",
		"/api/url/notfound.example.com%2Fx",
	} {
		t.Run(path, func(t *testing.T) {
			a := env.lookup(t, path)
			if a.status != http.StatusNotFound {
				t.Fatalf("status: got %d, want 404", a.status)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if e := decode[map[string]any](t, a.body); e["error"] == nil || e["message"] == nil {
				t.Errorf("body: got %s, want a JSON object with error and message", a.body)
			}
		})
	}
}

func TestReservedIPs(t *testing.T) {
	env := startSim(t, Options{})
	for _, ip := range []string{"10.1.2.3", "127.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "0.0.0.0",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.1.1.1", "255.255.255.255"} {
		t.Run(ip, func(t *testing.T) {
			got := env.lookup(t, "/api/ip/"+ip).sections(t)
			if keys := sortedKeys(got); keys != "IpGeneralInfo,IpWhoIs,LicenseInfo,Zone" {
				t.Errorf("sections: got %s, want IpGeneralInfo,IpWhoIs,LicenseInfo,Zone", keys)
			}
			if z := decode[string](t, got["Zone"]); z != ZoneGrey {
				t.Errorf("Zone: got %s, want Grey", z)
			}
			info := decode[map[string]any](t, got["IpGeneralInfo"])
			if info["Status"] != "reserved" || info["Ip"] != ip {
				t.Errorf("IpGeneralInfo: got %s, want Status reserved and Ip %s", got["IpGeneralInfo"], ip)
			}
		})
	}
	for _, ip := range []string{"100.128.0.1", "172.32.0.1", "169.253.1.1", "223.255.255.254", "11.0.0.1"} {
		t.Run(ip+" is public", func(t *testing.T) {
			got := env.lookup(t, "/api/ip/"+ip+"?sections=IpGeneralInfo").sections(t)
			if info := decode[map[string]any](t, got["IpGeneralInfo"]); info["Status"] != "known" {
				t.Errorf("Status: got %v, want known", info["Status"])
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	env := startSim(t, Options{})
	other := startSim(t, Options{})
	// Everything but LicenseInfo, whose counter moves with every request.
	sections := func(typ indicator.Type) string {
		var names []string
		for _, s := range newCatalog()[typ] {
			if s.name != sectionLicense {
				names = append(names, s.name)
			}
		}
		return strings.Join(names, ",")
	}
	for typ, v := range ordinary {
		path := "/api/" + string(typ) + "/" + escapeSegment(v) + "?count=7&sections=" + sections(typ)
		a, b, c := env.lookup(t, path), env.lookup(t, path), other.lookup(t, path)
		if !bytes.Equal(a.body, b.body) || !bytes.Equal(a.body, c.body) {
			t.Errorf("%s: got different answers for the same request", path)
		}
		if a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s Content-Type: got %q, want application/json", path, a.header.Get("Content-Type"))
		}
	}
	t.Run("case variants", func(t *testing.T) {
		q := "?sections=" + sections(indicator.Hash)
		lower := env.lookup(t, "/api/hash/"+ordinary[indicator.Hash]+q)
		upper := env.lookup(t, "/api/hash/"+strings.ToUpper(ordinary[indicator.Hash])+q)
		if !bytes.Equal(lower.body, upper.body) {
			t.Error("hash in upper and lower case: got different answers, want the same")
		}
	})
}

func TestSectionsIndependentOfEachOther(t *testing.T) {
	// A cache that stores sections separately must be able to combine them.
	env := startSim(t, Options{})
	together := env.lookup(t, "/api/domain/example.com?sections=DomainWhoIsInfo,Subdomains&count=3").sections(t)
	for _, s := range []string{"DomainWhoIsInfo", "Subdomains"} {
		alone := env.lookup(t, "/api/domain/example.com?count=3&sections="+s).sections(t)
		if !bytes.Equal(alone[s], together[s]) {
			t.Errorf("%s alone: got %s, want %s", s, alone[s], together[s])
		}
	}
}

func TestFixtureIndicators(t *testing.T) {
	env := startSim(t, Options{})
	tests := []struct {
		path, file string
	}{
		{"/api/hash/" + FixtureMD5, "file.json"},
		{"/api/hash/" + strings.ToUpper(FixtureMD5), "file.json"},
		{"/api/hash/" + FixtureSHA1, "file.json"},
		{"/api/hash/" + strings.ToUpper(FixtureSHA256), "file.json"},
		{"/api/ip/" + FixtureIP, "ipv4.json"},
		{"/api/domain/" + FixtureDomain, "domain.json"},
		{"/api/url/gsocket.io%2Fx", "url.json"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			raw, err := os.ReadFile("fixtures/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			want := decode[map[string]json.RawMessage](t, raw)
			got := env.lookup(t, tc.path).sections(t)
			for name, w := range want {
				if !bytes.Equal(got[name], w) {
					t.Errorf("%s: got %s, want the fixture's %s", name, got[name], w)
				}
			}
			if len(got) <= len(want) {
				t.Errorf("got %d sections, want the fixture's %d plus generated ones", len(got), len(want))
			}
		})
	}
	t.Run("one file, three hashes", func(t *testing.T) {
		q := "?sections=FileNames,FilePaths,FileGeneralInfo,DetectionsInfo"
		md5 := env.lookup(t, "/api/hash/"+FixtureMD5+q)
		for _, h := range []string{FixtureSHA1, FixtureSHA256} {
			if got := env.lookup(t, "/api/hash/"+h+q); !bytes.Equal(got.body, md5.body) {
				t.Errorf("%s: got %s, want the MD5's answer %s", h, got.body, md5.body)
			}
		}
	})
	t.Run("Outcome reports the fixture zone", func(t *testing.T) {
		for _, tc := range []struct {
			typ  indicator.Type
			v    string
			zone string
		}{{indicator.Hash, FixtureSHA256, ZoneYellow}, {indicator.IP, FixtureIP, ZoneRed},
			{indicator.Domain, FixtureDomain, ZoneRed}, {indicator.URL, FixtureURL, ZoneYellow}} {
			if z, found := Outcome(tc.typ, tc.v); z != tc.zone || !found {
				t.Errorf("Outcome(%s, %s): got %s %v, want %s true", tc.typ, tc.v, z, found, tc.zone)
			}
		}
	})
}

func TestLicenseInfo(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
	env := startSim(t, Options{DayQuota: 3, Token: "tok", Now: clock.Now})
	license := func(auth func(*http.Request), client *http.Client) (tip.License, map[string]json.RawMessage) {
		t.Helper()
		got := env.get(t, client, auth, "/api/domain/example.com?sections=LicenseInfo,Zone").sections(t)
		return decode[tip.License](t, got["LicenseInfo"]), decode[map[string]json.RawMessage](t, got["LicenseInfo"])
	}
	for i := 1; i <= 3; i++ {
		l, raw := license(env.basic, env.client)
		if l.DayRequests != i || l.DayQuota != 3 || l.AccessType != "Commercial" {
			t.Errorf("request %d: got %+v, want DayRequests %d, DayQuota 3, Commercial", i, l, i)
		}
		if string(raw["TokenExpirationDate"]) != "null" {
			t.Errorf("classic mode TokenExpirationDate: got %s, want null", raw["TokenExpirationDate"])
		}
	}
	if a := env.lookup(t, "/api/domain/example.com?sections=Zone"); a.status != http.StatusForbidden {
		t.Errorf("request over quota: got %d, want 403", a.status)
	}
	if a := env.lookup(t, "/api/domain/notfound.example.com"); a.status != http.StatusForbidden {
		t.Errorf("request over quota for an unknown object: got %d, want 403", a.status)
	}

	clock.Advance(2 * time.Hour) // a new UTC day
	l, _ := license(bearer("tok"), env.bare)
	if l.DayRequests != 1 {
		t.Errorf("first request of a new day: got DayRequests %d, want 1", l.DayRequests)
	}
	if l.TokenExpirationDate == nil || !l.TokenExpirationDate.After(clock.Now()) {
		t.Errorf("bearer mode TokenExpirationDate: got %v, want a future date", l.TokenExpirationDate)
	}
	if a := env.lookup(t, "/api/domain/notfound.example.com"); a.status != http.StatusNotFound {
		t.Errorf("second request of a new day: got %d, want 404", a.status)
	}
	if got := env.lookup(t, "/api/domain/example.com"); !bytes.Contains(got.body, []byte(`"DayRequests":3`)) {
		t.Errorf("404s count like 200s: got %s, want DayRequests 3", got.body)
	}
}

func TestFaults(t *testing.T) {
	const html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
	tests := []struct {
		name       string
		fault      Fault
		path       string
		wantStatus int
		wantCT     string
		wantBody   string // substring
	}{
		{"503 default body", Fault{Status: 503}, "/api/ip/8.8.8.8", 503, "application/json", `"status":503`},
		{"502 html page", Fault{Status: 502, Body: html, ContentType: "text/html"}, "/api/ip/8.8.8.8", 502, "text/html", "Bad Gateway"},
		{"429", Fault{Status: 429}, "/api/hash/" + FixtureMD5, 429, "application/json", "Too Many Requests"},
		{"500", Fault{Status: 500}, "/api/hash/" + FixtureMD5, 500, "application/json", "Internal Server Error"},
		{"401", Fault{Status: 401}, "/api/domain/example.com", 401, "application/json", ""},
		{"403", Fault{Status: 403}, "/api/domain/example.com", 403, "application/json", ""},
		{"200 with a broken body", Fault{Status: 200, Body: "{not json"}, "/api/url/a.example%2Fb", 200, "application/json", "{not json"},
		{"delay only answers normally", Fault{Delay: 50 * time.Millisecond}, "/api/domain/example.com?sections=Zone", 200, "application/json", `"Zone"`},
		{"delayed error", Fault{Status: 503, Delay: 50 * time.Millisecond}, "/api/domain/example.com", 503, "application/json", ""},
		{"match on type", Fault{Status: 503, Type: indicator.Domain}, "/api/domain/example.com", 503, "application/json", ""},
		{"no match on other type", Fault{Status: 503, Type: indicator.IP}, "/api/domain/example.com?sections=Zone", 200, "application/json", `"Zone"`},
		{"match on value", Fault{Status: 503, Value: "EXAMPLE.com"}, "/api/domain/example.com", 503, "application/json", ""},
		{"match on decoded url", Fault{Status: 503, Value: "a.example/b?c"}, "/api/url/a.example%2Fb%3Fc", 503, "application/json", ""},
		{"no match on other value", Fault{Status: 503, Value: "other.com"}, "/api/domain/example.com?sections=Zone", 200, "application/json", `"Zone"`},
	}
	env := startSim(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.sim.ClearFaults()
			env.sim.Inject(tc.fault)
			start := time.Now()
			a := env.lookup(t, tc.path)
			if a.status != tc.wantStatus {
				t.Errorf("status: got %d, want %d", a.status, tc.wantStatus)
			}
			if ct := a.header.Get("Content-Type"); ct != tc.wantCT {
				t.Errorf("Content-Type: got %q, want %q", ct, tc.wantCT)
			}
			if !strings.Contains(string(a.body), tc.wantBody) {
				t.Errorf("body: got %s, want it to contain %s", a.body, tc.wantBody)
			}
			if elapsed := time.Since(start); elapsed < tc.fault.Delay {
				t.Errorf("answer came after %v, want at least the fault's delay %v", elapsed, tc.fault.Delay)
			}
		})
	}
	env.sim.ClearFaults()

	t.Run("times", func(t *testing.T) {
		env.sim.Inject(Fault{Status: 503, Times: 2})
		var got []int
		for range 3 {
			got = append(got, env.lookup(t, "/api/domain/example.com?sections=Zone").status)
		}
		if want := []int{503, 503, 200}; !slices.Equal(got, want) {
			t.Errorf("statuses: got %v, want %v", got, want)
		}
	})
	t.Run("until cleared", func(t *testing.T) {
		env.sim.Inject(Fault{Status: 502})
		for i := range 3 {
			if got := env.lookup(t, "/api/domain/example.com").status; got != 502 {
				t.Errorf("request %d: got %d, want 502", i, got)
			}
		}
		env.sim.ClearFaults()
		if got := env.lookup(t, "/api/domain/example.com").status; got != 200 {
			t.Errorf("after ClearFaults: got %d, want 200", got)
		}
	})
	t.Run("first matching fault wins", func(t *testing.T) {
		env.sim.Inject(Fault{Status: 429, Type: indicator.IP})
		env.sim.Inject(Fault{Status: 500})
		defer env.sim.ClearFaults()
		if got := env.lookup(t, "/api/ip/8.8.8.8").status; got != 429 {
			t.Errorf("ip: got %d, want 429", got)
		}
		if got := env.lookup(t, "/api/domain/example.com").status; got != 500 {
			t.Errorf("domain: got %d, want 500", got)
		}
	})
}

func TestHangUntilClientGivesUp(t *testing.T) {
	env := startSim(t, Options{})
	env.sim.Inject(Fault{Hang: true, Times: 1})
	client := *env.client
	client.Timeout = 200 * time.Millisecond
	_, err := env.try(&client, http.MethodGet, env.basic, "/api/ip/8.8.8.8")
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("hung request: got error %v, want a client timeout", err)
	}
	if got := env.lookup(t, "/api/ip/8.8.8.8").status; got != 200 {
		t.Errorf("after the hang: got %d, want 200", got)
	}
	// The hung handler notices the client left in its own time, so the two
	// entries may come in either order.
	log := waitLog(t, env.sim, 2)
	got := []int{log[0].Status, log[1].Status}
	slices.Sort(got)
	if want := []int{0, 200}; !slices.Equal(got, want) {
		t.Errorf("logged statuses: got %v, want %v (0: no answer)", got, want)
	}
}

func TestHangEndsWhenServerCloses(t *testing.T) {
	env := startSim(t, Options{})
	env.sim.Inject(Fault{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, err := env.try(env.client, http.MethodGet, env.basic, "/api/ip/8.8.8.8")
		errc <- err
	}()
	for env.sim.Requests() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := env.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Error("hung request after Close: got an answer, want an error")
	}
}

// waitLog waits until the log holds n requests: a request is logged when its
// handler returns, which can be just after the client saw the outcome.
func waitLog(t *testing.T, sim *Sim, n int) []Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if log := sim.Log(); len(log) >= n {
			return log
		}
		if ctx.Err() != nil {
			t.Fatalf("request log: got %d entries, want %d", len(sim.Log()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLatency(t *testing.T) {
	env := startSim(t, Options{Latency: 30 * time.Millisecond})
	start := time.Now()
	env.lookup(t, "/api/ip/8.8.8.8")
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("answer after %v, want at least the 30ms latency", elapsed)
	}
}

func TestURLValueDecodedFromRawPath(t *testing.T) {
	env := startSim(t, Options{})
	tests := []struct {
		escaped, want string
	}{
		{"example.com%2Fa%3Fb%3Dc", "example.com/a?b=c"},
		{"example.com%2Fpath%3Fq%3Dhello%20world%26x%3D1", "example.com/path?q=hello world&x=1"},
		{"example.com%2Fa%252Fb", "example.com/a%2Fb"},
		{"example.com", "example.com"},
		{"1.2.3.4%3A8080%2Fx", "1.2.3.4:8080/x"},
	}
	for _, tc := range tests {
		t.Run(tc.escaped, func(t *testing.T) {
			env.sim.Reset()
			got := env.lookup(t, "/api/url/"+tc.escaped+"?sections=UrlGeneralInfo").sections(t)
			info := decode[map[string]any](t, got["UrlGeneralInfo"])
			if info["Url"] != tc.want {
				t.Errorf("UrlGeneralInfo.Url: got %v, want %q", info["Url"], tc.want)
			}
			if log := waitLog(t, env.sim, 1); log[0].Value != tc.want || log[0].Type != indicator.URL {
				t.Errorf("logged: got %s %q, want url %q", log[0].Type, log[0].Value, tc.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	env := startSim(t, Options{})
	long := "example.com%2F" + strings.Repeat("a", MaxURLLength)
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"unknown section", "GET", "/api/domain/example.com?sections=Zone,Nope", 400},
		{"section of another type", "GET", "/api/domain/example.com?sections=IpWhoIs", 400},
		{"section in wrong case", "GET", "/api/domain/example.com?sections=zone", 400},
		{"count zero", "GET", "/api/domain/example.com?count=0", 400},
		{"count not a number", "GET", "/api/domain/example.com?count=ten", 400},
		{"format stix", "GET", "/api/domain/example.com?format=stix", 400},
		{"hash too short", "GET", "/api/hash/abc123", 400},
		{"hash not hex", "GET", "/api/hash/" + strings.Repeat("g", 32), 400},
		{"hash of 33", "GET", "/api/hash/" + strings.Repeat("a", 33), 400},
		{"ip with leading zero", "GET", "/api/ip/010.1.1.1", 400},
		{"ip out of range", "GET", "/api/ip/256.1.1.1", 400},
		{"ipv6", "GET", "/api/ip/%3A%3A1", 400},
		{"ip as a domain", "GET", "/api/domain/1.2.3.4", 400},
		{"domain with space", "GET", "/api/domain/exa%20mple.com", 400},
		{"domain with leading hyphen", "GET", "/api/domain/-example.com", 400},
		{"empty value", "GET", "/api/domain/", 400},
		{"url without host", "GET", "/api/url/%2Fpath", 400},
		{"url with control character", "GET", "/api/url/example.com%2F%0A", 400},
		{"url with unescaped slash", "GET", "/api/url/example.com/a", 400},
		{"url too long", "GET", "/api/url/" + long, 414},
		{"url of exactly 2000", "GET", "/api/url/" + long[:len(long)-12], 200},
		{"unknown type", "GET", "/api/email/a@b.c", 404},
		{"not the api", "GET", "/index.html", 404},
		{"post", "POST", "/api/domain/example.com", 405},
		{"head", "HEAD", "/api/domain/example.com", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := env.try(env.client, tc.method, env.basic, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tc.want {
				t.Fatalf("status: got %d, want %d (body %s)", a.status, tc.want, a.body)
			}
			if tc.method == "GET" && a.status != 200 {
				if e := decode[map[string]any](t, a.body); e["message"] == "" {
					t.Errorf("body: got %s, want a reason", a.body)
				}
			}
			if tc.want == 405 && a.header.Get("Allow") != "GET" {
				t.Errorf("Allow: got %q, want GET", a.header.Get("Allow"))
			}
		})
	}
}

func TestRequestCountAndLog(t *testing.T) {
	env := startSim(t, Options{Token: "tok"})
	env.lookup(t, "/api/domain/example.com?sections=Zone,DomainGeneralInfo&count=5")
	env.get(t, env.bare, bearer("bad"), "/api/ip/8.8.8.8")
	env.get(t, env.bare, bearer("tok"), "/api/hash/0000aae80faf8d03781c2d611a4e183f")
	env.lookup(t, "/api/domain/example.com?sections=Nope")
	env.lookup(t, "/favicon.ico") // not a lookup

	if got := env.sim.Requests(); got != 4 {
		t.Errorf("Requests: got %d, want 4", got)
	}
	log := waitLog(t, env.sim, 4)
	want := []Request{
		{Method: "GET", Type: indicator.Domain, Value: "example.com", Sections: []string{"Zone", "DomainGeneralInfo"}, Count: 5, Auth: AuthBasic, ClientCert: true, Status: 200},
		{Method: "GET", Type: indicator.IP, Value: "8.8.8.8", Auth: AuthBearer, Status: 401},
		{Method: "GET", Type: indicator.Hash, Value: "0000aae80faf8d03781c2d611a4e183f", Auth: AuthBearer, Status: 404},
		{Method: "GET", Type: indicator.Domain, Value: "example.com", Sections: []string{"Nope"}, Auth: AuthBasic, ClientCert: true, Status: 400},
	}
	for i, w := range want {
		got := log[i]
		if got.Time.IsZero() {
			t.Errorf("entry %d: got no time", i)
		}
		got.Time = time.Time{}
		if !equalRequest(got, w) {
			t.Errorf("entry %d: got %+v, want %+v", i, got, w)
		}
	}

	env.sim.Reset()
	if got := env.sim.Requests(); got != 0 {
		t.Errorf("Requests after Reset: got %d, want 0", got)
	}
	if got := len(env.sim.Log()); got != 0 {
		t.Errorf("Log after Reset: got %d entries, want 0", got)
	}
}

func equalRequest(a, b Request) bool {
	return a.Method == b.Method && a.Type == b.Type && a.Value == b.Value && slices.Equal(a.Sections, b.Sections) &&
		(a.Sections == nil) == (b.Sections == nil) && a.Count == b.Count && a.Auth == b.Auth &&
		a.ClientCert == b.ClientCert && a.Status == b.Status
}

func TestConcurrentUse(t *testing.T) {
	env := startSim(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				if j == 5 {
					env.sim.Inject(Fault{Status: 503, Times: 1, Value: "nothing.example"})
				}
				a, err := env.try(env.client, http.MethodGet, env.basic, "/api/domain/host"+itoa(i)+".example?count=3")
				if err != nil || a.status != 200 {
					t.Errorf("request: got %v %d, want 200", err, a.status)
				}
				_ = env.sim.Log()
			}
		})
	}
	wg.Wait()
	if got := env.sim.Requests(); got != 80 {
		t.Errorf("Requests: got %d, want 80", got)
	}
}

func equalRaw(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}
