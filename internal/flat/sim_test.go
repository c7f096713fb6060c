package flat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// simCase is one function called on one indicator the simulator answers.
type simCase struct {
	function string
	zone     string // the zone the result must report
	res      *lookup.Result
}

// simCorpus calls every function on three indicators of every zone. The
// simulator forces zones through a domain's first label; IPs and hashes are
// searched for with tipsim.Outcome. TIP never puts a file in Orange, so the
// Orange hash results are Red answers relabelled: the flat output must still
// report them as Orange.
func simCorpus(t *testing.T) []simCase {
	t.Helper()
	sim := newSim()
	var out []simCase
	for _, fn := range flat.Functions() {
		for _, zone := range zoneList() {
			var values []string
			relabel := false
			switch fn.Type {
			case indicator.Domain:
				for _, base := range []string{"alpha.com", "beta.net", "gamma.org"} {
					values = append(values, strings.ToLower(zone)+"."+base)
				}
			case indicator.URL:
				for _, base := range []string{"alpha.com/dl/setup.exe", "beta.net/a/b?c=d", "gamma.org/x"} {
					values = append(values, strings.ToLower(zone)+"."+base)
				}
			case indicator.IP:
				values = indicatorsIn(t, indicator.IP, zone, 3, publicIP)
			case indicator.Hash:
				z := zone
				if zone == "Orange" {
					z, relabel = "Red", true
				}
				values = indicatorsIn(t, indicator.Hash, z, 3, md5Like)
			}
			for _, v := range values {
				res := simResult(t, sim, fn.Type, v, fn.Sections)
				if relabel {
					res = withZone(res, "Orange")
				}
				out = append(out, simCase{function: fn.Name, zone: zone, res: res})
			}
		}
	}
	return out
}

// TestSimulatorDataPerFunctionAndZone checks every function in every zone
// on generated data against an oracle written from tip-api.md §4 directly.
func TestSimulatorDataPerFunctionAndZone(t *testing.T) {
	for _, c := range simCorpus(t) {
		t.Run(c.function+"/"+c.zone+"/"+c.res.Indicator.Value, func(t *testing.T) {
			out := flat.Flatten(c.res)
			checkInvariants(t, c.res, out)
			if out["KLZone"] != c.zone {
				t.Errorf("KLZone = %v, want %s", out["KLZone"], c.zone)
			}
			checkOracle(t, c.res, out)
		})
	}
}

// TestNotFound: TIP's 404 (and a local answer) is Grey and nothing else,
// whatever the function.
func TestNotFound(t *testing.T) {
	sim := newSim()
	values := map[indicator.Type]string{
		indicator.IP: "192.0.2.7", indicator.Domain: "notfound.example.com",
		indicator.URL: "notfound.example.com/a", indicator.Hash: "0000aae80faf8d03781c2d611a4e183f",
	}
	for _, fn := range flat.Functions() {
		t.Run(fn.Name, func(t *testing.T) {
			res := simResult(t, sim, fn.Type, values[fn.Type], fn.Sections)
			if res.Found {
				t.Fatalf("simulator found %s", values[fn.Type])
			}
			if got := jsonOf(t, flat.Flatten(res)); got != `{"KLZone":"Grey"}` {
				t.Errorf("Flatten = %s", got)
			}
			// A not-found result says Grey even if a caller left a zone or a
			// section in it.
			res.Zone = "Red"
			res.Sections = complete()[fn.Type].Sections
			if got := jsonOf(t, flat.Flatten(res)); got != `{"KLZone":"Grey"}` {
				t.Errorf("Flatten of a not-found result with data = %s", got)
			}
		})
	}
	if got := jsonOf(t, flat.Flatten(nil)); got != `{"KLZone":"Grey"}` {
		t.Errorf("Flatten(nil) = %s", got)
	}
}

// TestReservedIP: TIP answers a reserved address with IpGeneralInfo and
// IpWhoIs only (no ASN, no contacts): Grey, the network, nothing invented.
func TestReservedIP(t *testing.T) {
	fn, _ := flat.FunctionByName("get_ip_report")
	res := simResult(t, newSim(), indicator.IP, "10.1.2.3", fn.Sections)
	out := flat.Flatten(res)
	checkInvariants(t, res, out)
	want := `{"KLIPRange":"10.0.0.0-10.255.255.255","KLNetDescription":"Internet Assigned Numbers Authority\r\nReserved address block",` +
		`"KLNetname":"PRIVATE-ADDRESS-ABLK-RFC1918-IANA-RESERVED","KLZone":"Grey"}`
	if got := jsonOf(t, out); got != want {
		t.Errorf("Flatten =\n%s\nwant\n%s", got, want)
	}
}

// TestRealAnswers flattens the real captured TIP answers (the simulator
// serves fixtures/opentip verbatim for these indicators and sections) and
// compares the whole output.
func TestRealAnswers(t *testing.T) {
	sim := newSim()
	cases := []struct {
		typ      indicator.Type
		value    string
		sections []string
		want     string
	}{
		{indicator.IP, tipsim.FixtureIP, []string{"IpGeneralInfo", "IpWhoIs"},
			`{"KLASDescription":["China Unicom Shandong Province Network"],"KLASN":[4837],"KLCategory":["CATEGORY_MALWARE"],` +
				`"KLChanged":"2025-01-22T13:20:18Z","KLIPRange":"39.64.0.0-39.95.255.255",` +
				`"KLNetDescription":"China Unicom Shandong province network\r\nChina Unicom","KLNetname":"UNICOM-SD","KLZone":"Red"}`},
		{indicator.Domain, tipsim.FixtureDomain, []string{"DomainGeneralInfo", "DomainWhoIsInfo"},
			`{"KLCategories":["CATEGORY_PHISHING"],"KLCreated":"2023-07-03T21:00:00Z","KLDomain":"tetegrams.org",` +
				`"KLDomainName":"tetegrams.org","KLDomainStatus":["serverHold https://icann.org/epp#serverHold",` +
				`"clientTransferProhibited https://icann.org/epp#clientTransferProhibited",` +
				`"serverTransferProhibited https://icann.org/epp#serverTransferProhibited",` +
				`"serverUpdateProhibited https://icann.org/epp#serverUpdateProhibited",` +
				`"redemptionPeriod https://icann.org/epp#redemptionPeriod"],"KLExpires":"2024-07-03T21:00:00Z",` +
				`"KLNameServers":["ariella.ns.cloudflare.com","pranab.ns.cloudflare.com"],"KLRegistrantCountryCode":"HK",` +
				`"KLRegistrantOrganization":"NA","KLRegistrantState":"NA","KLRegistrarIanaId":"1068",` +
				`"KLRegistrarInfo":"NameCheap, Inc.","KLRegistrationOrganization":"NA","KLUpdated":"2024-08-14T21:00:00Z","KLZone":"Red"}`},
		{indicator.URL, tipsim.FixtureURL, []string{"UrlGeneralInfo", "UrlDomainWhoIs"},
			`{"KLCreated":"2021-02-19T21:00:00Z","KLDomainName":"gsocket.io","KLDomainStatus":["clientTransferProhibited ` +
				`https://icann.org/epp#clientTransferProhibited","autoRenewPeriod https://icann.org/epp#autoRenewPeriod"],` +
				`"KLExpires":"2027-02-19T21:00:00Z","KLFilesCount":10,"KLHost":"gsocket.io","KLIPv4Count":8,` +
				`"KLNameServers":["nsa6.schlundtech.de","nsb6.schlundtech.de","nsc6.schlundtech.de","nsd6.schlundtech.de"],` +
				`"KLRegistrantCountryCode":"GB","KLRegistrantState":"GB","KLRegistrarIanaId":"800087","KLRegistrarInfo":"InternetX",` +
				`"KLURL":"gsocket.io/x","KLURLCategories":["CATEGORY_OTHER"],"KLUpdated":"2026-02-19T21:00:00Z","KLZone":"Yellow"}`},
		{indicator.Hash, tipsim.FixtureMD5, []string{"FileGeneralInfo", "DetectionsInfo"},
			`{"KLDescriptionURL":["https://threats.kaspersky.com/en/threat/HackTool.Linux.Gsnetcat",` +
				`"https://threats.kaspersky.com/en/threat/HEUR:RiskTool.Linux.Gsnetcat"],` +
				`"KLDetectionNames":["HEUR:HackTool.Linux.Gsnetcat.a","HEUR:HackTool.Linux.Gsnetcat.b",` +
				`"HEUR:HackTool.Linux.Gsnetcat.c","not-a-virus:HEUR:RiskTool.Linux.Gsnetcat.a"],` +
				`"KLFirstSeen":"2024-02-02T15:17:00Z","KLFormat":"elf.64.le","KLHits":10000,"KLLastSeen":"2026-04-03T20:39:00Z",` +
				`"KLMd5":"3935AAE80FAF8D03781C2D611A4E183F","KLSha1":"772F35212C973BB7552277594F1785480B4B64A1",` +
				`"KLSha256":"2539170C4C1FFEEB17E87917687B5F86104CC88DE9478696CEE6E0ECADDFC9BB","KLSize":2833840,"KLZone":"Yellow"}`},
	}
	for _, c := range cases {
		t.Run(string(c.typ), func(t *testing.T) {
			res := simResult(t, sim, c.typ, c.value, c.sections)
			out := flat.Flatten(res)
			checkInvariants(t, res, out)
			if got := jsonOf(t, out); got != c.want {
				t.Errorf("Flatten =\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// TestEveryDocumentFieldIsProduced: every field of the document, in every
// spelling and with its Orange bucket, is written by at least one test case
// of its function: the simulator's data, the real answers and the complete
// data together. Fields only the complete data produce are logged.
func TestEveryDocumentFieldIsProduced(t *testing.T) {
	byFunction := map[string]map[string]bool{}
	fromSim := map[string]map[string]bool{}
	note := func(m map[string]map[string]bool, fn string, out map[string]any) {
		if m[fn] == nil {
			m[fn] = map[string]bool{}
		}
		for k := range out {
			m[fn][k] = true
		}
	}
	for _, c := range simCorpus(t) {
		out := flat.Flatten(c.res)
		note(byFunction, c.function, out)
		note(fromSim, c.function, out)
	}
	data := complete()
	for _, fn := range flat.Functions() {
		for _, zone := range zoneList() {
			note(byFunction, fn.Name, flat.Flatten(withZone(only(data[fn.Type], fn.Sections), zone)))
		}
	}
	for _, d := range documentFields() {
		var constructedOnly []string
		for _, n := range expectedNames(d.fields) {
			if why, ok := exempt()[n]; ok {
				t.Logf("%s: %s exempt: %s", d.name, n, why)
				continue
			}
			if !byFunction[d.name][n] {
				t.Errorf("%s: no test case produces %s", d.name, n)
			}
			if !fromSim[d.name][n] {
				constructedOnly = append(constructedOnly, n)
			}
		}
		if len(constructedOnly) > 0 {
			t.Logf("%s: only the complete data produce %v", d.name, constructedOnly)
		}
	}
}

// ---- the oracle ----

// generic decodes JSON the plain way, for the oracle.
func generic(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("section JSON: %v", err)
	}
	return v
}

func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// checkOracle recomputes the fields from the raw sections, following the
// mapping of tip-api.md §4 literally, and compares.
func checkOracle(t *testing.T, res *lookup.Result, out map[string]any) {
	t.Helper()
	scalars := []struct {
		section string
		path    []string
		names   []string
	}{
		{"FileGeneralInfo", []string{"HitsCount"}, []string{"KLHits"}},
		{"FileGeneralInfo", []string{"FirstSeen"}, []string{"KLFirstSeen"}},
		{"FileGeneralInfo", []string{"LastSeen"}, []string{"KLLastSeen"}},
		{"FileGeneralInfo", []string{"Md5"}, []string{"KLMd5"}},
		{"FileGeneralInfo", []string{"Sha1"}, []string{"KLSha1"}},
		{"FileGeneralInfo", []string{"Sha256"}, []string{"KLSha256"}},
		{"FileGeneralInfo", []string{"Type"}, []string{"KLFormat"}},
		{"FileGeneralInfo", []string{"Size"}, []string{"KLSize"}},
		{"FileGeneralInfo", []string{"Signer"}, []string{"KLSigner"}},
		{"FileGeneralInfo", []string{"Packer"}, []string{"KLPacker"}},
		{"IpGeneralInfo", []string{"Categories"}, []string{"KLCategory"}},
		{"IpGeneralInfo", []string{"FirstSeen"}, []string{"KLFirstSeen"}},
		{"IpGeneralInfo", []string{"HitsCount"}, []string{"KLHits"}},
		{"IpGeneralInfo", []string{"ThreatScore"}, []string{"KLThreatScore"}},
		{"IpGeneralInfo", []string{"HasApt"}, []string{"KLHasAdvancedPersistThreat"}},
		{"IpWhoIs", []string{"Net", "Created"}, []string{"KLCreated"}},
		{"IpWhoIs", []string{"Net", "Changed"}, []string{"KLChanged"}},
		{"IpWhoIs", []string{"Net", "Name"}, []string{"KLNetname"}},
		{"IpWhoIs", []string{"Net", "Description"}, []string{"KLNetDescription"}},
		{"DomainGeneralInfo", []string{"Domain"}, []string{"KLDomain"}},
		{"DomainGeneralInfo", []string{"FilesCount"}, []string{"KLFilesCount"}},
		{"DomainGeneralInfo", []string{"HitsCount"}, []string{"KLHits"}},
		{"DomainGeneralInfo", []string{"Ipv4Count"}, []string{"KLIPv4Count"}},
		{"DomainGeneralInfo", []string{"UrlsCount"}, []string{"KLURLCount"}},
		{"DomainGeneralInfo", []string{"HasApt"}, []string{"KLHasAdvancedPersistThreat"}},
		{"UrlGeneralInfo", []string{"Categories"}, []string{"KLURLCategories"}},
		{"UrlGeneralInfo", []string{"FilesCount"}, []string{"KLFilesCount"}},
		{"UrlGeneralInfo", []string{"Ipv4Count"}, []string{"KLIPv4Count"}},
		{"UrlGeneralInfo", []string{"HasApt"}, []string{"KLHasAdvancedPersistThreat"}},
		{"UrlGeneralInfo", []string{"Url"}, []string{"KLURL"}},
		{"UrlGeneralInfo", []string{"Host"}, []string{"KLHost"}},
	}
	for _, w := range []string{"DomainWhoIsInfo", "UrlDomainWhoIs"} {
		for k, n := range map[string]string{"Created": "KLCreated", "DomainName": "KLDomainName",
			"DomainStatus": "KLDomainStatus", "Expires": "KLExpires", "NameServers": "KLNameServers",
			"RegistrationOrganization": "KLRegistrationOrganization", "Updated": "KLUpdated"} {
			scalars = append(scalars, struct {
				section string
				path    []string
				names   []string
			}{w, []string{k}, []string{n}})
		}
		for k, n := range map[string]string{"Email": "KLRegistrarEmail", "IanaId": "KLRegistrarIanaId", "Info": "KLRegistrarInfo"} {
			scalars = append(scalars, struct {
				section string
				path    []string
				names   []string
			}{w, []string{"Registrar", k}, []string{n}})
		}
	}
	for _, s := range scalars {
		raw, ok := res.Section(s.section)
		if !ok {
			continue
		}
		want := at(generic(t, raw), s.path...)
		for _, n := range s.names {
			got, have := out[n]
			switch {
			case isEmpty(want) && have:
				t.Errorf("%s = %s, but %s.%s is empty", n, jsonOf(t, got), s.section, strings.Join(s.path, "."))
			case !isEmpty(want) && !have:
				t.Errorf("%s missing, %s.%s = %s", n, s.section, strings.Join(s.path, "."), jsonOf(t, want))
			case have && jsonOf(t, got) != jsonOf(t, want):
				t.Errorf("%s = %s, want %s", n, jsonOf(t, got), jsonOf(t, want))
			}
		}
	}

	// Lists: the values of a key over a section's items, as a set.
	lists := []struct {
		section, key string
		name         string
	}{
		{"HostedUrls", "Url", "KLHostedURL"},
		{"IpDnsResolutions", "Domain", "KLIPDNSResolustionsDomains"},
		{"IpDnsResolutions", "Categories", "KLIPDNSResolustionsCategories"},
		{"DetectionsInfo", "DetectionName", "KLDetectionNames"},
		{"DetectionsInfo", "DescriptionUrl", "KLDescriptionURL"},
		{"FileNames", "FileName", "KLFileNames"},
		{"IpWhoIs", "Asn.Number", "KLASN"},
		{"IpWhoIs", "Asn.Description", "KLASDescription"},
		{"DomainGeneralInfo", "Categories", "KLCategories"},
	}
	for _, l := range lists {
		raw, ok := res.Section(l.section)
		if !ok {
			continue
		}
		v := generic(t, raw)
		key := l.key
		if list, k, nested := strings.Cut(l.key, "."); nested {
			v, key = at(v, list), k
		}
		var want []any
		if l.section == "DomainGeneralInfo" {
			want, _ = at(v, key).([]any)
		} else {
			items, _ := v.([]any)
			for _, it := range items {
				want = append(want, at(it, key))
			}
		}
		compareSet(t, l.name, out[l.name], want)
	}

	// Zone buckets: the values of a key over the items of each zone.
	buckets := []struct {
		section, key string
		patterns     []string
		types        []indicator.Type
	}{
		{"FileAccessedUrls", "Url", []string{"KL%FileAccessedURL"}, nil},
		{"FileAccessedUrls", "Domain", []string{"KL%FileAccessedDomain"}, nil},
		{"FilesDownloadedFromIp", "Md5", []string{"KL%Md5"}, nil},
		{"FilesAccessed", "Md5", []string{"KL%FileAccessedMd5"}, nil},
		{"FilesDownloaded", "Md5", []string{"KL%FileDownloadedMd5"}, nil},
		{"UrlReferrals", "Url", []string{"KL%URLReferrals", "KL%UrlReferrals"}, nil},
		{"UrlReferredTo", "Url", []string{"KL%URLReferredTo", "KL%UrlReferredTo"}, nil},
		{"DomainDnsResolutions", "Ip", []string{"KL%DomainDnsResolutionsIP"}, []indicator.Type{indicator.Domain}},
		{"DomainDnsResolutions", "Ip", []string{"KL%IPResoutions", "KL%IPResolutions"}, []indicator.Type{indicator.URL}},
		{"Subdomains", "Subdomain", []string{"KL%Subdomains"}, nil},
	}
	for _, b := range buckets {
		raw, ok := res.Section(b.section)
		if !ok || (b.types != nil && !slices.Contains(b.types, res.Indicator.Type)) {
			continue
		}
		items, _ := generic(t, raw).([]any)
		for _, zone := range zoneList() {
			var want []any
			for _, it := range items {
				if at(it, "Zone") == zone {
					want = append(want, at(it, b.key))
				}
			}
			for _, p := range b.patterns {
				name := strings.Replace(p, "%", zone, 1)
				compareSet(t, name, out[name], want)
			}
		}
	}

	// Contacts: the simulator gives each contact type once.
	for _, w := range []string{"IpWhoIs", "DomainWhoIsInfo", "UrlDomainWhoIs"} {
		raw, ok := res.Section(w)
		if !ok {
			continue
		}
		contacts, _ := at(generic(t, raw), "Contacts").([]any)
		for _, c := range contacts {
			typ, _ := at(c, "ContactType").(string)
			title := strings.ToUpper(typ[:1]) + typ[1:]
			for _, k := range contactSuffixes() {
				name := "KL" + title + k
				if title == "Registrar" && (k == "Email") {
					continue // the Registrar object's, when it has one
				}
				want := at(c, k)
				got, have := out[name]
				if isEmpty(want) != !have || (have && jsonOf(t, got) != jsonOf(t, want)) {
					t.Errorf("%s = %v (written %v), contact has %s", name, jsonOf(t, got), have, jsonOf(t, want))
				}
			}
		}
	}
}

// compareSet compares a written list with the distinct non-empty values
// (nested lists flattened) it should hold; no values means no field.
func compareSet(t *testing.T, name string, got any, values []any) {
	t.Helper()
	want := map[string]bool{}
	for _, v := range values {
		if l, ok := v.([]any); ok {
			for _, e := range l {
				if !isEmpty(e) {
					want[jsonOf(t, e)] = true
				}
			}
		} else if !isEmpty(v) {
			want[jsonOf(t, v)] = true
		}
	}
	if len(want) == 0 {
		if got != nil {
			t.Errorf("%s = %s, want nothing", name, jsonOf(t, got))
		}
		return
	}
	list, ok := got.([]any)
	if !ok {
		t.Errorf("%s = %s, want a list of %d", name, jsonOf(t, got), len(want))
		return
	}
	seen := map[string]bool{}
	for _, e := range list {
		j := jsonOf(t, e)
		if seen[j] {
			t.Errorf("%s holds %s twice", name, j)
		}
		seen[j] = true
		if !want[j] {
			t.Errorf("%s holds %s, which no item gives", name, j)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%s holds %d values, want %d: %s", name, len(seen), len(want), fmt.Sprint(want))
	}
}
