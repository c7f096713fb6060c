package flat_test

import (
	"encoding/json"
	"testing"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// want is an expected output: field → its JSON; absent lists fields that must
// not be written.
type want struct {
	fields map[string]string
	absent []string
}

func check(t *testing.T, res *lookup.Result, w want) {
	t.Helper()
	out := flat.Flatten(res)
	checkInvariants(t, res, out)
	for name, j := range w.fields {
		got, ok := out[name]
		if !ok {
			t.Errorf("%s not written, want %s", name, j)
			continue
		}
		if g := jsonOf(t, got); g != j {
			t.Errorf("%s = %s, want %s", name, g, j)
		}
	}
	for _, name := range w.absent {
		if got, ok := out[name]; ok {
			t.Errorf("%s = %s, want nothing", name, jsonOf(t, got))
		}
	}
}

// TestSpellings: the document's, the plugin code's and the corrected
// spelling are all written, with one value; the Yellow-only typo stays
// Yellow-only; DomainDnsResolutions is named per type as the document does.
func TestSpellings(t *testing.T) {
	referrals := `[{"Url":"a.example/1","Zone":"Red"},{"Url":"b.example/2","Zone":"Orange"},{"Url":"c.example/3","Zone":"Yellow"}]`
	dns := `[{"Ip":"1.2.3.4","Zone":"Red"},{"Ip":"5.6.7.8","Zone":"Orange"}]`
	cases := []struct {
		name string
		res  *lookup.Result
		want want
	}{
		{"url referrals and referred-to", jsonResult(indicator.URL, "x.example/a", "Red", map[string]string{
			"UrlReferrals": referrals, "UrlReferredTo": referrals}), want{fields: map[string]string{
			"KLRedUrlReferrals": `["a.example/1"]`, "KLRedURLReferrals": `["a.example/1"]`,
			"KLOrangeUrlReferrals": `["b.example/2"]`, "KLOrangeURLReferrals": `["b.example/2"]`,
			"KLYellowUrlReferredTo": `["c.example/3"]`, "KLYellowURLReferredTo": `["c.example/3"]`,
		}, absent: []string{"KLGreenUrlReferrals", "KLGreyURLReferredTo"}}},
		{"domain referrals", jsonResult(indicator.Domain, "x.example", "Red", map[string]string{
			"UrlReferrals": referrals}), want{fields: map[string]string{
			"KLRedURLReferrals": `["a.example/1"]`, "KLRedUrlReferrals": `["a.example/1"]`,
		}}},
		{"url dns resolutions: IPResoutions and IPResolutions", jsonResult(indicator.URL, "x.example/a", "Red", map[string]string{
			"DomainDnsResolutions": dns}), want{fields: map[string]string{
			"KLRedIPResoutions": `["1.2.3.4"]`, "KLRedIPResolutions": `["1.2.3.4"]`,
			"KLOrangeIPResoutions": `["5.6.7.8"]`, "KLOrangeIPResolutions": `["5.6.7.8"]`,
		}, absent: []string{"KLRedDomainDnsResolutionsIP"}}},
		{"domain dns resolutions: DomainDnsResolutionsIP", jsonResult(indicator.Domain, "x.example", "Red", map[string]string{
			"DomainDnsResolutions": dns}), want{fields: map[string]string{
			"KLRedDomainDnsResolutionsIP": `["1.2.3.4"]`, "KLOrangeDomainDnsResolutionsIP": `["5.6.7.8"]`,
		}, absent: []string{"KLRedIPResoutions", "KLRedIPResolutions"}}},
		{"ip dns resolutions: Resolustions and Resolutions", jsonResult(indicator.IP, "1.2.3.4", "Red", map[string]string{
			"IpDnsResolutions": `[{"Domain":"a.example","Zone":"Red","Categories":["CATEGORY_MALWARE"]},
				{"Domain":"b.example","Zone":"Green","Categories":["CATEGORY_NEWS_MEDIA","CATEGORY_MALWARE"]},
				{"Domain":"a.example","Zone":"Red"}]`}), want{fields: map[string]string{
			"KLIPDNSResolustionsDomains":    `["a.example","b.example"]`,
			"KLIPDNSResolutionsDomains":     `["a.example","b.example"]`,
			"KLIPDNSResolustionsCategories": `["CATEGORY_MALWARE","CATEGORY_NEWS_MEDIA"]`,
			"KLIPDNSResolutionsCategories":  `["CATEGORY_MALWARE","CATEGORY_NEWS_MEDIA"]`,
		}}},
		{"files accessed: the Yellow typo only for Yellow", jsonResult(indicator.Domain, "x.example", "Red", map[string]string{
			"FilesAccessed": `[{"Md5":"AA","Zone":"Yellow"},{"Md5":"BB","Zone":"Red"},{"Md5":"CC","Zone":"Orange"}]`}),
			want{fields: map[string]string{
				"KLYellowFileAccessedMd5": `["AA"]`, "KLYellowFileAccesedMd5": `["AA"]`,
				"KLRedFileAccessedMd5": `["BB"]`, "KLOrangeFileAccessedMd5": `["CC"]`,
			}, absent: []string{"KLRedFileAccesedMd5", "KLOrangeFileAccesedMd5"}}},
		{"hash accessed urls: the Yellow typo for URL and Domain", jsonResult(indicator.Hash, "3935aae80faf8d03781c2d611a4e183f", "Red",
			map[string]string{"FileAccessedUrls": `[{"Url":"ads.example/b","Domain":"ads.example","Zone":"Yellow"}]`}),
			want{fields: map[string]string{
				"KLYellowFileAccessedURL": `["ads.example/b"]`, "KLYellowFileAccesedURL": `["ads.example/b"]`,
				"KLYellowFileAccessedDomain": `["ads.example"]`, "KLYellowFileAccesedDomain": `["ads.example"]`,
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.res, c.want) })
	}
}

// TestContacts: contacts by type, arrays for several of one type, the
// plugin's title-casing, and the object-wins rule.
func TestContacts(t *testing.T) {
	whois := func(contacts, registrar string) map[string]string {
		s := `{"DomainName":"x.example","Contacts":` + contacts
		if registrar != "" {
			s += `,"Registrar":` + registrar
		}
		return map[string]string{"DomainWhoIsInfo": s + "}"}
	}
	cases := []struct {
		name string
		res  *lookup.Result
		want want
	}{
		{"one contact per type: plain values", jsonResult(indicator.Domain, "x.example", "Red", whois(
			`[{"ContactType":"registrant","Name":"R","Email":"r@x.example","Address":["1 Road","Town"]},
			  {"ContactType":"technical","Phone":"+1.5550100","Fax":"+1.5550101","PostalCode":"12345"}]`, "")),
			want{fields: map[string]string{
				"KLRegistrantName": `"R"`, "KLRegistrantEmail": `"r@x.example"`, "KLRegistrantAddress": `["1 Road","Town"]`,
				"KLTechnicalPhone": `"+1.5550100"`, "KLTechnicalFax": `"+1.5550101"`, "KLTechnicalPostalCode": `"12345"`,
			}, absent: []string{"KLRegistrantPhone", "KLTechnicalName"}}},
		{"several contacts of one type: aligned arrays, null where one lacks the field", jsonResult(indicator.IP, "1.2.3.4", "Red",
			map[string]string{"IpWhoIs": `{"Contacts":[
				{"ContactType":"owner","Name":"First Org","Email":"a@first.example"},
				{"ContactType":"abuse","Name":"Abuse desk"},
				{"ContactType":"owner","Name":"Second Org","Phone":"+2","Address":["A","B"]},
				{"ContactType":"Owner","Name":"Third Org","Email":null,"Phone":""}]}`}),
			want{fields: map[string]string{
				"KLOwnerName":    `["First Org","Second Org","Third Org"]`,
				"KLOwnerEmail":   `["a@first.example",null,null]`,
				"KLOwnerPhone":   `[null,"+2",null]`,
				"KLOwnerAddress": `[null,["A","B"],null]`,
				"KLAbuseName":    `"Abuse desk"`,
			}, absent: []string{"KLOwnerFax", "KLAbuseEmail"}}},
		{"types title-cased like the plugin, then kept to letters and digits", jsonResult(indicator.Domain, "x.example", "Red", whois(
			`[{"ContactType":"ADMINISTRATIVE","Name":"A"},{"ContactType":"admin-c","Name":"B"},
			  {"ContactType":"billing contact","Name":"C"},{"ContactType":"tech_c2x","Name":"D"},
			  {"ContactType":"","Name":"nobody"},{"ContactType":"-","Name":"nobody"},{"ContactType":7,"Name":"nobody"},
			  {"Name":"no type"},"not an object"]`, "")),
			want{fields: map[string]string{
				"KLAdministrativeName": `"A"`, "KLAdminCName": `"B"`, "KLBillingContactName": `"C"`, "KLTechC2XName": `"D"`,
			}, absent: []string{"KLName"}}},
		{"registrar: the object wins, a registrar contact fills the rest", jsonResult(indicator.Domain, "x.example", "Red", whois(
			`[{"ContactType":"registrar","Email":"contact@registrar.example","Name":"Registrar Inc.","Phone":"+1.5550199"}]`,
			`{"Info":"Registrar Inc.","IanaId":"1068","Email":"abuse@registrar.example"}`)),
			want{fields: map[string]string{
				"KLRegistrarEmail": `"abuse@registrar.example"`, "KLRegistrarIanaId": `"1068"`, "KLRegistrarInfo": `"Registrar Inc."`,
				"KLRegistrarName": `"Registrar Inc."`, "KLRegistrarPhone": `"+1.5550199"`,
			}}},
		{"registrar: a contact gives the e-mail the object lacks", jsonResult(indicator.URL, "x.example/a", "Red", map[string]string{
			"UrlDomainWhoIs": `{"Registrar":{"Info":"Registrar Inc.","IanaId":"1068","Email":null},
				"Contacts":[{"ContactType":"registrar","Email":"contact@registrar.example"}]}`}),
			want{fields: map[string]string{"KLRegistrarEmail": `"contact@registrar.example"`, "KLRegistrarInfo": `"Registrar Inc."`}}},
		{"a contact never overwrites a fixed field", jsonResult(indicator.Domain, "x.example", "Red", whois(
			`[{"ContactType":"domain","Name":"not the domain name","Email":"d@x.example"}]`, "")),
			want{fields: map[string]string{"KLDomainName": `"x.example"`, "KLDomainEmail": `"d@x.example"`}}},
		{"keys outside the contact fields are ignored", jsonResult(indicator.Domain, "x.example", "Red", whois(
			`[{"ContactType":"registrant","Handle":"H-1","Name":"R","ContactType2":"x"}]`, "")),
			want{fields: map[string]string{"KLRegistrantName": `"R"`}, absent: []string{"KLRegistrantHandle", "KLRegistrantContactType2"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.res, c.want) })
	}
}

// TestOldAndNewTIPNames: the 2018 names the plugin read and the current ones
// (tip-api.md §5) both work; the current one wins when both are there.
func TestOldAndNewTIPNames(t *testing.T) {
	cases := []struct {
		name string
		res  *lookup.Result
		want want
	}{
		{"2018 IpWhoIs: StartIp/EndIp, Asn.Origin, Contacts.Role", jsonResult(indicator.IP, "1.2.3.4", "Red", map[string]string{
			"IpWhoIs": `{"Net":{"StartIp":"1.2.0.0","EndIp":"1.2.255.255","Name":"NET-1"},
				"Asn":[{"Origin":"AS4837","Description":"Old style description"},{"Origin":13335,"Description":["Cloudflare, Inc."]}],
				"Contacts":[{"Role":"owner","Name":"Old Owner","OrganizationId":"ORG-1"}]}`}),
			want{fields: map[string]string{
				"KLIPRange": `"1.2.0.0-1.2.255.255"`, "KLASN": `["AS4837",13335]`,
				"KLASDescription": `["Old style description","Cloudflare, Inc."]`,
				"KLOwnerName":     `"Old Owner"`, "KLOwnerOrganizationId": `"ORG-1"`,
			}}},
		{"current IpWhoIs: RangeStart/RangeEnd, Asn.Number, Contacts.ContactType", jsonResult(indicator.IP, "1.2.3.4", "Red", map[string]string{
			"IpWhoIs": `{"Net":{"RangeStart":"1.2.0.0","RangeEnd":"1.2.255.255"},
				"Asn":[{"Number":4837,"Description":["China Unicom Shandong Province Network","second line"]}],
				"Contacts":[{"ContactType":"technical","Name":"Tech"}]}`}),
			want{fields: map[string]string{
				"KLIPRange": `"1.2.0.0-1.2.255.255"`, "KLASN": `[4837]`,
				"KLASDescription": `["China Unicom Shandong Province Network","second line"]`, "KLTechnicalName": `"Tech"`,
			}}},
		{"both: the current names win", jsonResult(indicator.IP, "1.2.3.4", "Red", map[string]string{
			"IpWhoIs": `{"Net":{"RangeStart":"10.0.0.0","RangeEnd":"10.0.0.255","StartIp":"9.9.9.9","EndIp":"9.9.9.9"},
				"Asn":[{"Number":1,"Origin":"AS2"}],"Contacts":[{"ContactType":"owner","Role":"abuse","Name":"N"}]}`}),
			want{fields: map[string]string{"KLIPRange": `"10.0.0.0-10.0.0.255"`, "KLASN": `[1]`, "KLOwnerName": `"N"`},
				absent: []string{"KLAbuseName"}}},
		{"a range with one end is no range", jsonResult(indicator.IP, "1.2.3.4", "Red", map[string]string{
			"IpWhoIs": `{"Net":{"RangeStart":"10.0.0.0","EndIp":null}}`}),
			want{absent: []string{"KLIPRange"}}},
		{"FileNames: FileName and the plugin's FileNames", jsonResult(indicator.Hash, "3935aae80faf8d03781c2d611a4e183f", "Red", map[string]string{
			"FileNames": `[{"FileName":"gs-netcat","FileNamesHitsCount":100},{"FileNames":"old-name"},{"FileName":"gs-netcat"},"bare.exe"]`}),
			want{fields: map[string]string{"KLFileNames": `["gs-netcat","old-name","bare.exe"]`}}},
		{"item zones in any case, Gray read as Grey, unknown zones dropped", jsonResult(indicator.URL, "x.example/a", "Red", map[string]string{
			"FilesDownloaded": `[{"Md5":"A1","Zone":"red"},{"Md5":"A2","Zone":"GRAY"},{"Md5":"A3","Zone":"Gray"},
				{"Md5":"A4","Zone":"Purple"},{"Md5":"A5"},{"Md5":"A6","Zone":null}]`}),
			want{fields: map[string]string{"KLRedFileDownloadedMd5": `["A1"]`, "KLGreyFileDownloadedMd5": `["A2","A3"]`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.res, c.want) })
	}
}

// TestValues: JSON types are kept, empty values write nothing, false and 0
// are values, lists are de-duplicated in first-seen order.
func TestValues(t *testing.T) {
	res := jsonResult(indicator.Domain, "x.example", "Green", map[string]string{
		"DomainGeneralInfo": `{"Domain":"x.example","FilesCount":0,"UrlsCount":12345678901234567890123,"HitsCount":1e3,
			"Ipv4Count":null,"Categories":["B","A","B"],"HasApt":false}`,
		"DomainWhoIsInfo": `{"DomainName":"","NameServers":[],"DomainStatus":{},"Created":"2023-07-03T21:00:00Z"}`,
		"Subdomains": `[{"Subdomain":"b.x.example","Zone":"Green","FilesCount":2},{"Subdomain":"a.x.example","Zone":"Green","FilesCount":40},
			{"Subdomain":"b.x.example","Zone":"Green","FilesCount":"7"},{"Subdomain":"","Zone":"Green","FilesCount":1.5}]`,
	})
	check(t, res, want{fields: map[string]string{
		"KLDomain": `"x.example"`, "KLFilesCount": `0`, "KLURLCount": `12345678901234567890123`, "KLHits": `1e3`,
		"KLCategories": `["B","A"]`, "KLHasAdvancedPersistThreat": `false`, "KLCreated": `"2023-07-03T21:00:00Z"`,
		"KLGreenSubdomains": `["b.x.example","a.x.example"]`, "KLSubdomainsFilesCount": `42`, "KLZone": `"Green"`,
	}, absent: []string{"KLIPv4Count", "KLDomainName", "KLNameServers", "KLDomainStatus"}})

	// The value stays typed in Go too: a json.Number, not a string.
	if n, ok := flat.Flatten(res)["KLFilesCount"].(json.Number); !ok || n != "0" {
		t.Errorf("KLFilesCount = %#v, want json.Number 0", flat.Flatten(res)["KLFilesCount"])
	}
}

// TestDerivedValues: the values the package works out rather than copies.
func TestDerivedValues(t *testing.T) {
	cases := []struct {
		name string
		res  *lookup.Result
		want want
	}{
		{"accessed domain from the url when the item has none", jsonResult(indicator.Hash, "3935aae80faf8d03781c2d611a4e183f", "Red",
			map[string]string{"FileAccessedUrls": `[{"Url":"evil.example/bin/x","Zone":"Red"},
				{"Url":"http://user@Other.example:8080/p?q","Zone":"Red"},{"Url":"evil.example","Zone":"Red"},
				{"Url":"[2001:db8::1]/x","Zone":"Green"}]`}),
			want{fields: map[string]string{
				"KLRedFileAccessedDomain":   `["evil.example","Other.example"]`,
				"KLGreenFileAccessedDomain": `["[2001:db8::1]"]`,
			}}},
		{"subdomains as the object the plugin assumed", jsonResult(indicator.Domain, "x.example", "Red", map[string]string{
			"Subdomains": `{"FilesCount":17}`}), want{fields: map[string]string{"KLSubdomainsFilesCount": `17`}}},
		{"subdomains without counts: no count", jsonResult(indicator.Domain, "x.example", "Red", map[string]string{
			"Subdomains": `[{"Subdomain":"a.x.example","Zone":"Red"}]`}),
			want{fields: map[string]string{"KLRedSubdomains": `["a.x.example"]`}, absent: []string{"KLSubdomainsFilesCount"}}},
		{"dns resolutions on a result of no known type: both names", jsonResult("", "?", "Red", map[string]string{
			"DomainDnsResolutions": `[{"Ip":"1.2.3.4","Zone":"Red"}]`}),
			want{fields: map[string]string{"KLRedDomainDnsResolutionsIP": `["1.2.3.4"]`, "KLRedIPResoutions": `["1.2.3.4"]`,
				"KLRedIPResolutions": `["1.2.3.4"]`}}},
		{"sections without KL fields and broken sections write nothing", jsonResult(indicator.Domain, "x.example", "Orange", map[string]string{
			"RelatedObjects": `{"HasRedZone":true}`, "Industries": `["Government"]`, "FeedMasks": `[{"MaskType":"Url","Zone":"Red"}]`,
			"DomainGeneralInfo": `{"Domain":`, "UrlReferrals": `{"Url":"not a list","Zone":"Red"}`, "Subdomains": `"text"`,
			"DomainWhoIsInfo": `null`, "FilesAccessed": `[null,1,"x",[],{"Zone":"Red"}]`}),
			want{fields: map[string]string{"KLZone": `"Orange"`}, absent: []string{"KLDomain", "KLRedURLReferrals"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.res, c.want)
			if c.name == "sections without KL fields and broken sections write nothing" {
				if out := flat.Flatten(c.res); len(out) != 1 {
					t.Errorf("Flatten = %s, want KLZone alone", jsonOf(t, out))
				}
			}
		})
	}
}

// TestZone: KLZone is the result's zone in TIP's spelling, Grey when it is
// missing or unknown.
func TestZone(t *testing.T) {
	for in, want := range map[string]string{"Red": "Red", "orange": "Orange", "YELLOW": "Yellow", "Gray": "Grey",
		"grey": "Grey", " Green ": "Green", "": "Grey", "Purple": "Grey"} {
		res := &lookup.Result{Indicator: indicator.Indicator{Type: indicator.Domain, Value: "x.example"}, Zone: in, Found: true}
		if got := flat.Flatten(res)["KLZone"]; got != want {
			t.Errorf("zone %q: KLZone = %v, want %s", in, got, want)
		}
	}
}

// TestFieldsAreIndependent: no two fields share a list, so a caller that
// edits one cannot change another.
func TestFieldsAreIndependent(t *testing.T) {
	out := flat.Flatten(jsonResult(indicator.URL, "x.example/a", "Red", map[string]string{
		"UrlReferrals": `[{"Url":"a.example/1","Zone":"Red"}]`}))
	a, _ := out["KLRedUrlReferrals"].([]any)
	b, _ := out["KLRedURLReferrals"].([]any)
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("fields: %s", jsonOf(t, out))
	}
	a[0] = "changed"
	if b[0] != "a.example/1" {
		t.Error("KLRedUrlReferrals and KLRedURLReferrals share their list")
	}
}
