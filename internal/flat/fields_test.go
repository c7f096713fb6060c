package flat_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// docFunction is one function of the plugin document with its fields.
type docFunction struct {
	name   string
	fields []string
}

// documentFields is the plugin document's field list (shared/seeds/
// 000_8ebc2e22502b65b4.txt), function by function, in its order and
// spelling, "$" dropped; the contact tables under get_ip_report (Owner),
// get_url_report (Technical) and get_domain_report (Registrant) belong to
// those functions. Copied from the document by a script, not by hand.
//
// Every field is produced by some test case (TestEveryDocumentFieldIsProduced):
// the document lists no field of a section TIP does not return, so nothing is
// exempt. The one field whose JSON path TIP does not have is
// KLSubdomainsFilesCount (the plugin read Subdomains.FilesCount, but TIP's
// Subdomains is a list): it is derived from the list's items instead.
func documentFields() []docFunction {
	return []docFunction{
		{"get_ip_report", []string{
			"KLIPDNSResolustionsCategories", "KLIPDNSResolustionsDomains", "KLCategory", "KLFirstSeen", "KLHits",
			"KLThreatScore", "KLHasAdvancedPersistThreat", "KLCreated", "KLChanged", "KLIPRange", "KLNetname",
			"KLNetDescription", "KLZone", "KLASN", "KLASDescription", "KLOwnerAddress", "KLOwnerName", "KLOwnerFax",
			"KLOwnerEmail", "KLOwnerOrganizationId", "KLOwnerPhone",
		}},
		{"get_ip_report_file", []string{
			"KLHostedURL", "KLRedMd5", "KLGreenMd5", "KLGreyMd5", "KLYellowMd5",
		}},
		{"get_url_report", []string{
			"KLZone", "KLRedUrlReferredTo", "KLGreenUrlReferredTo", "KLGreyUrlReferredTo", "KLYellowUrlReferredTo",
			"KLRedUrlReferrals", "KLGreenUrlReferrals", "KLGreyUrlReferrals", "KLYellowUrlReferrals",
			"KLURLCategories", "KLFilesCount", "KLIPv4Count", "KLHasAdvancedPersistThreat", "KLURL", "KLHost",
			"KLRedIPResoutions", "KLGreenIPResoutions", "KLGreyIPResoutions", "KLYellowIPResoutions", "KLCreated",
			"KLDomainName", "KLDomainStatus", "KLExpires", "KLNameServers", "KLRegistrationOrganization", "KLUpdated",
			"KLRegistrarEmail", "KLRegistrarIanaId", "KLRegistrarInfo", "KLTechnicalAddress", "KLTechnicalCity",
			"KLTechnicalCountryCode", "KLTechnicalEmail", "KLTechnicalFax", "KLTechnicalName",
			"KLTechnicalOrganization", "KLTechnicalPhone", "KLTechnicalPostalCode", "KLTechnicalState",
		}},
		{"get_url_report_file", []string{
			"KLRedFileAccessedMd5", "KLGreenFileAccessedMd5", "KLGreyFileAccessedMd5", "KLYellowFileAccessedMd5",
			"KLRedFileDownloadedMd5", "KLGreenFileDownloadedMd5", "KLGreyFileDownloadedMd5",
			"KLYellowFileDownloadedMd5",
		}},
		{"get_domain_report", []string{
			"KLCategories", "KLDomain", "KLFilesCount", "KLHits", "KLIPv4Count", "KLURLCount",
			"KLHasAdvancedPersistThreat", "KLRedDomainDnsResolutionsIP", "KLGreenDomainDnsResolutionsIP",
			"KLGreyDomainDnsResolutionsIP", "KLYellowDomainDnsResolutionsIP", "KLRedURLReferrals",
			"KLGreenURLReferrals", "KLGreyURLReferrals", "KLYellowURLReferrals", "KLRedURLReferredTo",
			"KLGreenURLReferredTo", "KLGreyURLReferredTo", "KLYellowURLReferredTo", "KLCreated", "KLDomainName",
			"KLDomainStatus", "KLExpires", "KLNameServers", "KLRegistrarEmail", "KLRegistrarIanaId",
			"KLRegistrarInfo", "KLRegistrationOrganization", "KLUpdated", "KLZone", "KLSubdomainsFilesCount",
			"KLRedSubdomains", "KLGreenSubdomains", "KLGreySubdomains", "KLYellowSubdomains", "KLRegistrantAddress",
			"KLRegistrantCity", "KLRegistrantCountryCode", "KLRegistrantEmail", "KLRegistrantFax", "KLRegistrantName",
			"KLRegistrantOrganization", "KLRegistrantPhone", "KLRegistrantPostalCode", "KLRegistrantState",
		}},
		{"get_domain_report_file", []string{
			"KLRedFileAccessedMd5", "KLGreenFileAccessedMd5", "KLGreyFileAccessedMd5", "KLYellowFileAccessedMd5",
			"KLRedFileDownloadedMd5", "KLGreenFileDownloadedMd5", "KLGreyFileDownloadedMd5",
			"KLYellowFileDownloadedMd5",
		}},
		{"get_hash_report", []string{
			"KLHits", "KLFirstSeen", "KLLastSeen", "KLMd5", "KLSha1", "KLSha256", "KLFormat", "KLSize", "KLSigner",
			"KLPacker", "KLDetectionNames", "KLDescriptionURL", "KLFileNames", "KLZone", "KLRedFileAccessedURL",
			"KLGreenFileAccessedURL", "KLGreyFileAccessedURL", "KLYellowFileAccessedURL", "KLRedFileAccessedDomain",
			"KLGreenFileAccessedDomain", "KLGreyFileAccessedDomain", "KLYellowFileAccessedDomain",
		}},
	}
}

// exempt lists document fields no test needs to produce, with why: none.
func exempt() map[string]string { return map[string]string{} }

// zoneList is the zones in the order the tests walk them.
func zoneList() []string { return []string{"Red", "Orange", "Yellow", "Grey", "Green"} }

// aliasGroups are names that must carry one value: the document's spelling,
// the plugin code's, and the corrected one (package doc, "Spellings").
func aliasGroups() [][]string {
	groups := [][]string{
		{"KLIPDNSResolustionsDomains", "KLIPDNSResolutionsDomains"},
		{"KLIPDNSResolustionsCategories", "KLIPDNSResolutionsCategories"},
		{"KLYellowFileAccessedMd5", "KLYellowFileAccesedMd5"},
		{"KLYellowFileAccessedURL", "KLYellowFileAccesedURL"},
		{"KLYellowFileAccessedDomain", "KLYellowFileAccesedDomain"},
	}
	for _, z := range zoneList() {
		groups = append(groups,
			[]string{"KL" + z + "UrlReferrals", "KL" + z + "URLReferrals"},
			[]string{"KL" + z + "UrlReferredTo", "KL" + z + "URLReferredTo"},
			[]string{"KL" + z + "IPResoutions", "KL" + z + "IPResolutions"},
		)
	}
	return groups
}

// bucketed matches a zone-bucketed document field: KL<Zone><Rest>.
var bucketed = regexp.MustCompile(`^KL(Red|Green|Grey|Yellow)(.+)$`)

// expectedNames is every name a function must be able to produce: its
// document fields, their Orange bucket, and every spelling of each.
func expectedNames(fields []string) []string {
	set := map[string]bool{}
	for _, f := range fields {
		set[f] = true
		if m := bucketed.FindStringSubmatch(f); m != nil {
			set["KLOrange"+m[2]] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, g := range aliasGroups() {
			has := false
			for _, n := range g {
				has = has || set[n]
			}
			for _, n := range g {
				if has && !set[n] {
					set[n], changed = true, true
				}
			}
		}
		for n := range set {
			if m := bucketed.FindStringSubmatch(n); m != nil && !set["KLOrange"+m[2]] && !strings.Contains(n, "Accesed") {
				set["KLOrange"+m[2]], changed = true, true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestFunctionsMatchTheDocument(t *testing.T) {
	cat := tip.NewCatalog()
	fns := flat.Functions()
	docs := documentFields()
	if len(fns) != len(docs) {
		t.Fatalf("Functions() has %d functions, the document %d", len(fns), len(docs))
	}
	wantType := map[string]indicator.Type{
		"get_ip_report": indicator.IP, "get_ip_report_file": indicator.IP,
		"get_url_report": indicator.URL, "get_url_report_file": indicator.URL,
		"get_domain_report": indicator.Domain, "get_domain_report_file": indicator.Domain,
		"get_hash_report": indicator.Hash,
	}
	for i, fn := range fns {
		t.Run(fn.Name, func(t *testing.T) {
			if fn.Name != docs[i].name {
				t.Errorf("function %d is %s, the document's is %s", i, fn.Name, docs[i].name)
			}
			if fn.Type != wantType[fn.Name] {
				t.Errorf("type %q, want %q", fn.Type, wantType[fn.Name])
			}
			if len(fn.Sections) == 0 {
				t.Error("no sections")
			}
			for _, s := range fn.Sections {
				sec, ok := cat.Find(fn.Type, s)
				if !ok || sec.Name != s {
					t.Errorf("section %q is not a canonical %s section", s, fn.Type)
				}
				if s == tip.SectionZone || s == tip.SectionLicense {
					t.Errorf("section %q must not be listed: lookups always include it", s)
				}
			}
			// In the catalog's order, so that requests and cache keys built
			// from them are stable.
			var order []string
			for _, s := range cat.All(fn.Type) {
				if slices.Contains(fn.Sections, s.Name) {
					order = append(order, s.Name)
				}
			}
			if !slices.Equal(order, fn.Sections) {
				t.Errorf("sections %v are not in the catalog's order %v", fn.Sections, order)
			}
			byName, ok := flat.FunctionByName(fn.Name)
			if !ok || byName.Name != fn.Name || !slices.Equal(byName.Sections, fn.Sections) {
				t.Errorf("FunctionByName(%q) = %+v, %v", fn.Name, byName, ok)
			}
		})
	}
	for _, bad := range []string{"", "GET_IP_REPORT", "get_ip_report ", "get_domain_report_whois", "nope"} {
		if f, ok := flat.FunctionByName(bad); ok {
			t.Errorf("FunctionByName(%q) = %+v, want none", bad, f)
		}
	}
	// The table is the caller's to modify: changing it changes nothing here.
	fns[0].Sections[0] = "Mutated"
	fns[0].Name = "mutated"
	if again, _ := flat.FunctionByName("get_ip_report"); slices.Contains(again.Sections, "Mutated") {
		t.Error("a caller's change to Functions() leaked into the package")
	}
}

// TestFieldsMDListsEveryField keeps FIELDS.md, which the closing note quotes,
// complete: every document field and every extra spelling has a row.
func TestFieldsMDListsEveryField(t *testing.T) {
	f, err := os.Open("FIELDS.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	name := regexp.MustCompile("`(KL[A-Za-z0-9<>]+)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(line, -1) {
			listed[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, d := range documentFields() {
		for _, n := range expectedNames(d.fields) {
			if listed[n] {
				continue
			}
			// Zone families are written once as KL<Zone>…, contacts as KL<Type>….
			generic := n
			if m := bucketed.FindStringSubmatch(n); m != nil {
				generic = "KL<Zone>" + m[2]
			}
			if m := regexp.MustCompile(`^KLOrange(.+)$`).FindStringSubmatch(n); m != nil {
				generic = "KL<Zone>" + m[1]
			}
			for _, ct := range []string{"Owner", "Technical", "Registrant"} {
				if strings.HasPrefix(n, "KL"+ct) {
					generic = "KL<Type>" + strings.TrimPrefix(n, "KL"+ct)
				}
			}
			if !listed[generic] && !listed[n] {
				t.Errorf("FIELDS.md has no row for %s (nor %s)", n, generic)
			}
		}
	}
}
