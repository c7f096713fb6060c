package tipsim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

var (
	minuteDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\dZ$`)
	wholeDate  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$`)
	upperHex   = regexp.MustCompile(`^[0-9A-F]+$`)
)

// sample returns n indicators of type t spread over every zone.
func sample(t indicator.Type, n int) []string {
	var out []string
	for i := range n {
		switch t {
		case indicator.Hash:
			out = append(out, fmt.Sprintf("%032x", 0x1000000+i*7919)[:32])
			if i%3 == 1 {
				out[i] = strings.Repeat(out[i][:8], 5) // a SHA-1
			}
		case indicator.IP:
			out = append(out, fmt.Sprintf("%d.%d.%d.%d", 11+i%150, i%256, (i*7)%256, 1+i%250))
		case indicator.Domain:
			out = append(out, fmt.Sprintf("host%d.example%d.com", i, i%7))
		case indicator.URL:
			out = append(out, fmt.Sprintf("site%d.example.org/p/%d?q=%d", i, i, i))
		}
	}
	return out
}

// generated returns every section of an indicator as the handler would
// before cutting lists, decoded.
func generated(t *testing.T, typ indicator.Type, v string) (zone string, sections map[string]any) {
	t.Helper()
	zone, _ = Outcome(typ, v)
	sections = map[string]any{}
	for _, s := range newCatalog()[typ] {
		data, ok := generate(typ, canonical(typ, v), zone, s.name)
		if !ok {
			continue
		}
		b, err := marshal(data)
		if err != nil {
			t.Fatalf("%s %s %s: %v", typ, v, s.name, err)
		}
		var decoded any
		if err := json.Unmarshal(b, &decoded); err != nil {
			t.Fatalf("%s %s %s: invalid JSON %s: %v", typ, v, s.name, b, err)
		}
		sections[s.name] = decoded
	}
	return zone, sections
}

func TestEverySectionGenerated(t *testing.T) {
	for _, typ := range indicator.Types() {
		for _, s := range newCatalog()[typ] {
			if s.name == sectionZone || s.name == sectionLicense {
				continue // written by the handler
			}
			data, ok := generate(typ, canonical(typ, ordinary[typ]), ZoneRed, s.name)
			if !ok || data == nil {
				t.Errorf("%s %s: got no data, want some", typ, s.name)
			}
			if _, isList := data.([]any); isList != s.list {
				t.Errorf("%s %s: got list %v, want %v as the catalog says", typ, s.name, isList, s.list)
			}
		}
	}
	if _, ok := generate(indicator.URL, "1.2.3.4/x", ZoneRed, "UrlDomainWhoIs"); ok {
		t.Error("UrlDomainWhoIs of an IP host: got data, want none")
	}
}

func TestGeneratedShapes(t *testing.T) {
	validZone := map[string]bool{ZoneRed: true, ZoneOrange: true, ZoneYellow: true, ZoneGrey: true, ZoneGreen: true}
	for _, typ := range indicator.Types() {
		t.Run(string(typ), func(t *testing.T) {
			for _, v := range sample(typ, 60) {
				zone, sections := generated(t, typ, v)
				if typ == indicator.Hash && zone == ZoneOrange {
					t.Errorf("%s: got zone Orange, want never for a hash", v)
				}
				for name, data := range sections {
					items, isList := data.([]any)
					if !isList {
						checkFields(t, v+" "+name, data, false)
						continue
					}
					if len(items) > maxRecords {
						t.Errorf("%s %s: got %d records, want at most %d", v, name, len(items), maxRecords)
					}
					for _, it := range items {
						obj, isObj := it.(map[string]any)
						if !isObj {
							if _, isString := it.(string); !isString || name != "Industries" {
								t.Errorf("%s %s: got item %v, want an object", v, name, it)
							}
							continue
						}
						checkFields(t, v+" "+name, obj, true)
						z, hasZone := obj["Zone"].(string)
						switch name {
						case "FileNames", "FilePaths", "FileCertificates", "FileParentCertificates":
						default:
							if !hasZone || !validZone[z] {
								t.Errorf("%s %s: item zone %v, want one of the five zones", v, name, obj["Zone"])
							}
						}
						if _, isFile := obj["Md5"]; isFile && z == ZoneOrange {
							t.Errorf("%s %s: file item zone Orange, want never for files", v, name)
						}
					}
				}
			}
		})
	}
}

// checkFields checks value formats wherever they occur: hashes upper-case
// hex, dates in the precision TIP uses for the place they are in.
func checkFields(t *testing.T, where string, data any, listItem bool) {
	t.Helper()
	obj, ok := data.(map[string]any)
	if !ok {
		return
	}
	for k, v := range obj {
		s, isString := v.(string)
		switch {
		case k == "Md5" || k == "Sha1" || k == "Sha256":
			want := map[string]int{"Md5": 32, "Sha1": 40, "Sha256": 64}[k]
			if !isString || len(s) != want || !upperHex.MatchString(s) {
				t.Errorf("%s: %s = %v, want %d upper-case hex digits", where, k, v, want)
			}
		case k == "LastDetectDate":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") {
				t.Errorf("%s: %s = %v, want an RFC 3339 UTC date", where, k, v)
			}
		case (k == "FirstSeen" || k == "LastSeen" || k == "PeakDate" || strings.HasPrefix(k, "Last") && strings.HasSuffix(k, "Date")) && listItem:
			if !minuteDate.MatchString(s) {
				t.Errorf("%s: %s = %v, want minute precision like 2019-03-19T10:54Z", where, k, v)
			}
		case k == "FirstSeen" || k == "LastSeen":
			if !wholeDate.MatchString(s) {
				t.Errorf("%s: %s = %v, want seconds at :00 like 2024-02-02T15:17:00Z", where, k, v)
			}
		case k == "Created" || k == "Updated" || k == "Expires" || k == "Changed" || k == "Issued" || k == "TimeStamp":
			if _, err := time.Parse("2006-01-02T15:04:05Z", s); err != nil {
				t.Errorf("%s: %s = %v, want a date with seconds", where, k, v)
			}
		}
		if first, ok := obj["FirstSeen"].(string); ok {
			if last, ok := obj["LastSeen"].(string); ok && first > last {
				t.Errorf("%s: FirstSeen %s after LastSeen %s", where, first, last)
			}
		}
		checkFields(t, where+"."+k, v, listItem)
	}
}

func TestKeysSometimesLeftOut(t *testing.T) {
	counts := map[string]int{}
	const n = 200
	for _, v := range sample(indicator.Hash, n) {
		_, sections := generated(t, indicator.Hash, v)
		info := sections["FileGeneralInfo"].(map[string]any)
		for _, k := range []string{"Signer", "Packer", "HitsCount"} {
			if _, ok := info[k]; ok {
				counts[k]++
			}
		}
	}
	for _, k := range []string{"Signer", "Packer", "HitsCount"} {
		if counts[k] == 0 || counts[k] == n {
			t.Errorf("FileGeneralInfo.%s: present in %d of %d, want present in some and absent in others", k, counts[k], n)
		}
	}
}

func TestThreatScoreFollowsZone(t *testing.T) {
	bounds := map[string][2]float64{ZoneRed: {75, 100}, ZoneOrange: {50, 74}, ZoneYellow: {20, 49}, ZoneGrey: {0, 30}, ZoneGreen: {0, 5}}
	for _, v := range sample(indicator.IP, 100) {
		zone, sections := generated(t, indicator.IP, v)
		info := sections["IpGeneralInfo"].(map[string]any)
		if info["Status"] == "reserved" {
			continue
		}
		score := info["ThreatScore"].(float64)
		if b := bounds[zone]; score < b[0] || score > b[1] {
			t.Errorf("%s zone %s: ThreatScore %v, want %v to %v", v, zone, score, b[0], b[1])
		}
	}
}

func TestSharedFactsAgree(t *testing.T) {
	// A URL's UrlDomainWhoIs is its host's DomainWhoIsInfo, and an IP's
	// country matches its network.
	for i, v := range sample(indicator.URL, 20) {
		host, _ := urlHost(v)
		_, url := generated(t, indicator.URL, v)
		_, dom := generated(t, indicator.Domain, host)
		a, _ := json.Marshal(url["UrlDomainWhoIs"])
		b, _ := json.Marshal(dom["DomainWhoIsInfo"])
		if string(a) != string(b) {
			t.Errorf("url %d: UrlDomainWhoIs %s, want the host's DomainWhoIsInfo %s", i, a, b)
		}
	}
	for _, v := range sample(indicator.Hash, 40) {
		_, s := generated(t, indicator.Hash, v)
		_, signed := s["FileGeneralInfo"].(map[string]any)["Signer"]
		if certs := s["FileCertificates"].([]any); signed != (len(certs) > 0) {
			t.Errorf("%s: Signer present %v but %d certificates", v, signed, len(certs))
		}
	}
}

func BenchmarkAnswer(b *testing.B) {
	sim := New(Options{})
	l := lookup{typ: indicator.Domain, value: "example.com", count: 100}
	for b.Loop() {
		if _, err := sim.answer(l, ZoneRed, 1, AuthBasic); err != nil {
			b.Fatal(err)
		}
	}
}
