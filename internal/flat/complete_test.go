package flat_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// complete returns, per indicator type, a result whose sections hold every
// value the document has a field for, in TIP's shapes (fixtures/opentip and
// tip-api.md §2), with list items in all five zones, so that every field of
// every function can be checked whatever the simulator happens to generate.
func complete() map[indicator.Type]*lookup.Result {
	return map[indicator.Type]*lookup.Result{
		indicator.Hash: jsonResult(indicator.Hash, "3935aae80faf8d03781c2d611a4e183f", "Red", map[string]string{
			"FileGeneralInfo": `{"FileStatus":"Malware","Sha1":"772F35212C973BB7552277594F1785480B4B64A1",
				"Md5":"3935AAE80FAF8D03781C2D611A4E183F","Sha256":"2539170C4C1FFEEB17E87917687B5F86104CC88DE9478696CEE6E0ECADDFC9BB",
				"FirstSeen":"2024-02-02T15:17:00Z","LastSeen":"2026-04-03T20:39:00Z","Signer":"SOFTWARE ELEMENTS LTD",
				"SignerZone":"Red","SignerStatus":"Discredited","Packer":"UPX","Size":2833840,"Type":"pe.32",
				"HitsCount":10000,"HasApt":false}`,
			"DetectionsInfo": `[{"LastDetectDate":"2025-12-24T21:06:51.05Z","DescriptionUrl":"https://threats.kaspersky.com/en/threat/Trojan.Win32.Agent",
				"Zone":"Red","DetectionName":"HEUR:Trojan.Win32.Agent.gen","DetectionMethod":"HEUR"},
				{"LastDetectDate":"2026-01-02T01:02:03.4Z","DescriptionUrl":"https://threats.kaspersky.com/en/threat/Trojan.Win32.Agent",
				"Zone":"Red","DetectionName":"Trojan.Win32.Agent.xyz","DetectionMethod":"SIGNATURE"}]`,
			"FileNames": `[{"FileName":"setup.exe","FileNamesHitsCount":100},{"FileName":"invoice.exe","FileNamesHitsCount":10}]`,
			"FileAccessedUrls": `[{"Url":"evil.example/bin/x.exe","Domain":"evil.example","Zone":"Red"},
				{"Url":"shady.example/a","Domain":"shady.example","Zone":"Orange"},
				{"Url":"ads.example/b","Domain":"ads.example","Zone":"Yellow"},
				{"Url":"new.example/c","Domain":"new.example","Zone":"Grey"},
				{"Url":"cdn.example/d","Domain":"cdn.example","Zone":"Green"}]`,
		}),
		indicator.IP: jsonResult(indicator.IP, "39.90.148.83", "Red", map[string]string{
			"IpGeneralInfo": `{"Status":"known","CountryCode":"CN","Ip":"39.90.148.83","HitsCount":100,
				"FirstSeen":"2021-05-11T08:14:00Z","ThreatScore":92,"Categories":["CATEGORY_MALWARE"],
				"CategoriesWithZone":[{"Name":"CATEGORY_MALWARE","Zone":"Red"}],"HasApt":true,
				"RelatedAptReports":[{"Title":"Operation Quiet Harbor","Id":"1a2b3c4d"}]}`,
			"IpWhoIs": `{"Asn":[{"Number":4837,"Description":["China Unicom Shandong Province Network"]}],
				"Net":{"RangeStart":"39.64.0.0","RangeEnd":"39.95.255.255","Created":"2010-09-01T00:00:00Z",
					"Changed":"2025-01-22T13:20:18Z","Name":"UNICOM-SD","Description":"China Unicom Shandong province network\r\nChina Unicom"},
				"Contacts":[{"ContactType":"owner","Name":"China Unicom","OrganizationId":"ORG-CU1-AP",
					"Address":["No.21 Financial Street","Beijing"],"Email":"abuse@example.cn","Phone":"+86-10-0000000","Fax":"+86-10-0000001"},
					{"ContactType":"abuse","Name":"China Unicom abuse desk","Email":"abuse@example.cn"}]}`,
			"IpDnsResolutions": `[{"Domain":"bad.example.cn","Zone":"Red","HitsCount":10,"FirstSeen":"2024-01-01T10:00Z",
					"LastSeen":"2026-02-01T10:00Z","Categories":["CATEGORY_MALWARE"]},
				{"Domain":"other.example.cn","Zone":"Orange","HitsCount":1,"FirstSeen":"2024-01-01T10:00Z",
					"LastSeen":"2026-02-01T10:00Z","Categories":["CATEGORY_NOT_TRUSTED","CATEGORY_MALWARE"]}]`,
			"FilesDownloadedFromIp": `[{"Md5":"0123456789ABCDEF0123456789ABCDEF","Zone":"Red","DownloadHitsCount":10,"Url":"39.90.148.83/bins/x86"},
				{"Md5":"1123456789ABCDEF0123456789ABCDEF","Zone":"Orange"},{"Md5":"2123456789ABCDEF0123456789ABCDEF","Zone":"Yellow"},
				{"Md5":"3123456789ABCDEF0123456789ABCDEF","Zone":"Grey"},{"Md5":"4123456789ABCDEF0123456789ABCDEF","Zone":"Green"}]`,
			"HostedUrls": `[{"Url":"39.90.148.83/bins/x86","Zone":"Red","UrlHitsCount":10},{"Url":"39.90.148.83/index.html","Zone":"Grey"}]`,
		}),
		indicator.Domain: jsonResult(indicator.Domain, "tetegrams.org", "Red", map[string]string{
			"DomainGeneralInfo": `{"Domain":"tetegrams.org","FilesCount":3,"UrlsCount":12,"HitsCount":10,"Ipv4Count":2,
				"Categories":["CATEGORY_PHISHING"],"CategoriesWithZone":[{"Name":"CATEGORY_PHISHING","Zone":"Red"}],"HasApt":false}`,
			"DomainWhoIsInfo":      domainWhoIs("tetegrams.org", "registrant"),
			"DomainDnsResolutions": zonedItems("Ip", "104.21.0.%d"),
			"UrlReferrals":         zonedItems("Url", "t.co/ref%d"),
			"UrlReferredTo":        zonedItems("Url", "tetegrams.org/go%d"),
			"Subdomains": `[{"Subdomain":"login.tetegrams.org","Zone":"Red","FilesCount":2,"UrlsCount":5},
				{"Subdomain":"x.tetegrams.org","Zone":"Orange","FilesCount":1},{"Subdomain":"ads.tetegrams.org","Zone":"Yellow","FilesCount":0},
				{"Subdomain":"www.tetegrams.org","Zone":"Grey"},{"Subdomain":"cdn.tetegrams.org","Zone":"Green","FilesCount":4}]`,
			"FilesAccessed":   zonedItems("Md5", "AA%030d"),
			"FilesDownloaded": zonedItems("Md5", "BB%030d"),
		}),
		indicator.URL: jsonResult(indicator.URL, "gsocket.io/x", "Yellow", map[string]string{
			"UrlGeneralInfo": `{"Url":"gsocket.io/x","Host":"gsocket.io","Ipv4Count":8,"FilesCount":10,
				"Categories":["CATEGORY_OTHER"],"CategoriesWithZone":[{"Name":"CATEGORY_OTHER","Zone":"Yellow"}],"HasApt":false}`,
			"UrlDomainWhoIs":       domainWhoIs("gsocket.io", "technical"),
			"DomainDnsResolutions": zonedItems("Ip", "185.0.0.%d"),
			"UrlReferrals":         zonedItems("Url", "t.co/ref%d"),
			"UrlReferredTo":        zonedItems("Url", "gsocket.io/go%d"),
			"FilesAccessed":        zonedItems("Md5", "CC%030d"),
			"FilesDownloaded":      zonedItems("Md5", "DD%030d"),
		}),
	}
}

// zonedItems is a list with one item per zone (and the Red one twice, which
// must be written once), key's value made from format and a counter.
func zonedItems(key, format string) string {
	s := "["
	for i, z := range append(zoneList(), "Red") {
		n := i
		if i == len(zoneList()) {
			n = 0
		}
		if i > 0 {
			s += ","
		}
		s += `{"` + key + `":"` + fmt.Sprintf(format, n) + `","Zone":"` + z + `","HitsCount":10}`
	}
	return s + "]"
}

// domainWhoIs is a full WHOIS record whose one contact has every field.
func domainWhoIs(domain, contactType string) string {
	return `{"DomainName":"` + domain + `","Created":"2023-07-03T21:00:00Z","Updated":"2024-08-14T21:00:00Z",
		"Expires":"2027-07-03T21:00:00Z","NameServers":["ariella.ns.cloudflare.com","pranab.ns.cloudflare.com"],
		"Contacts":[{"ContactType":"` + contactType + `","Name":"Domain Admin","Organization":"Example Holdings Ltd",
			"Address":"1 Harbour Road","City":"Hong Kong","State":"HK","PostalCode":"999077","CountryCode":"HK",
			"Phone":"+852.00000000","Fax":"+852.00000001","Email":"admin@` + domain + `"}],
		"Registrar":{"Info":"NameCheap, Inc.","IanaId":"1068","Email":"abuse@namecheap.example"},
		"DomainStatus":["clientTransferProhibited https://icann.org/epp#clientTransferProhibited"],
		"RegistrationOrganization":"Example Holdings Ltd"}`
}

// TestCompleteDataPerFunctionAndZone: on data that has everything, every
// function in every zone writes every one of its fields, in every spelling
// and with its Orange bucket, and nothing another type's function owns.
func TestCompleteDataPerFunctionAndZone(t *testing.T) {
	data := complete()
	for _, d := range documentFields() {
		fn, _ := flat.FunctionByName(d.name)
		for _, zone := range zoneList() {
			t.Run(d.name+"/"+zone, func(t *testing.T) {
				res := withZone(only(data[fn.Type], fn.Sections), zone)
				out := flat.Flatten(res)
				checkInvariants(t, res, out)
				if out["KLZone"] != zone {
					t.Errorf("KLZone = %v, want %s", out["KLZone"], zone)
				}
				for _, n := range expectedNames(d.fields) {
					if _, ok := out[n]; !ok {
						t.Errorf("%s not written", n)
					}
				}
			})
		}
	}
}

// TestSectionsAreExactlyWhatFieldsNeed: a function's sections give all its
// fields, and leaving any one out loses some of them.
func TestSectionsAreExactlyWhatFieldsNeed(t *testing.T) {
	data := complete()
	for _, d := range documentFields() {
		fn, _ := flat.FunctionByName(d.name)
		t.Run(d.name, func(t *testing.T) {
			all := flat.Flatten(only(data[fn.Type], fn.Sections))
			for _, f := range d.fields {
				if _, ok := all[f]; !ok {
					t.Errorf("%s is not written from %v", f, fn.Sections)
				}
			}
			for _, drop := range fn.Sections {
				fewer := slices.DeleteFunc(slices.Clone(fn.Sections), func(s string) bool { return s == drop })
				out := flat.Flatten(only(data[fn.Type], fewer))
				lost := false
				for _, f := range d.fields {
					if _, ok := out[f]; !ok {
						lost = true
					}
				}
				if !lost {
					t.Errorf("section %s gives none of the function's fields: it need not be asked for", drop)
				}
			}
		})
	}
}
