package flat

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// Zones as the field names spell them, in the order buckets are written.
const (
	zoneRed    = "Red"
	zoneOrange = "Orange"
	zoneYellow = "Yellow"
	zoneGrey   = "Grey"
	zoneGreen  = "Green"
)

func zones() []string { return []string{zoneRed, zoneOrange, zoneYellow, zoneGrey, zoneGreen} }

// Flatten returns the KL* fields for the sections present in res (typed JSON
// values: numbers, booleans, strings, arrays), WITHOUT received_at/cache (the
// HTTP layer adds those). The package doc states the rules. Flatten never
// fails: a section it cannot read writes nothing.
func Flatten(res *lookup.Result) map[string]any {
	if res == nil || !res.Found {
		return map[string]any{"KLZone": zoneGrey}
	}
	out := map[string]any{"KLZone": zoneOf(res.Zone)}
	f := &flattener{out: out, typ: res.Indicator.Type}
	// A fixed order, so that which source wins never depends on map order.
	for _, s := range sectionReaders() {
		raw, ok := res.Section(s.name)
		if !ok {
			continue
		}
		if v := decode(raw); v != nil {
			s.read(f, v)
		}
	}
	// Contacts last, and only into names no fixed path wrote: the object
	// wins over a contact of the same name (the registrar rule).
	f.contacts.writeTo(out)
	return out
}

// zoneOf is KLZone of a found result: its zone, Grey when it has none TIP
// names.
func zoneOf(zone string) string {
	if z, ok := canonicalZone(zone); ok {
		return z
	}
	return zoneGrey
}

// canonicalZone reads a zone in any case, "Gray" included.
func canonicalZone(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "red":
		return zoneRed, true
	case "orange":
		return zoneOrange, true
	case "yellow":
		return zoneYellow, true
	case "grey", "gray":
		return zoneGrey, true
	case "green":
		return zoneGreen, true
	}
	return "", false
}

// decode reads a section's JSON keeping numbers exact; nil when it is not
// JSON or is null.
func decode(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

// flattener collects one result's fields.
type flattener struct {
	out      map[string]any
	typ      indicator.Type
	contacts contactSet
}

// set writes value under every name not yet written, unless value is empty.
// The first writer of a name wins; sections are read in a fixed order.
func (f *flattener) set(value any, names ...string) {
	if empty(value) {
		return
	}
	for i, n := range names {
		if _, taken := f.out[n]; taken {
			continue
		}
		if i > 0 {
			value = cloneList(value) // no two fields share a slice
		}
		f.out[n] = value
	}
}

// keyField is a field copied from one key of a section's object.
type keyField struct{ key, name string }

// copyKeys writes the value of each key of m under its field.
func (f *flattener) copyKeys(m map[string]any, fields []keyField) {
	for _, k := range fields {
		f.set(m[k.key], k.name)
	}
}

// empty reports whether v carries nothing: null, "", [] or {}.
func empty(v any) bool {
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

func cloneList(v any) any {
	if l, ok := v.([]any); ok {
		return append([]any(nil), l...)
	}
	return v
}

// section is how one TIP section becomes fields.
type section struct {
	name string
	read func(f *flattener, v any)
}

// sectionReaders lists every section the document has fields for.
func sectionReaders() []section {
	return []section{
		// hash
		{"FileGeneralInfo", (*flattener).fileGeneralInfo},
		{"DetectionsInfo", (*flattener).detectionsInfo},
		{"FileNames", (*flattener).fileNames},
		{"FileAccessedUrls", (*flattener).fileAccessedURLs},
		// ip
		{"IpGeneralInfo", (*flattener).ipGeneralInfo},
		{"IpWhoIs", (*flattener).ipWhoIs},
		{"IpDnsResolutions", (*flattener).ipDNSResolutions},
		{"FilesDownloadedFromIp", (*flattener).filesDownloadedFromIP},
		{"HostedUrls", (*flattener).hostedURLs},
		// domain and url
		{"DomainGeneralInfo", (*flattener).domainGeneralInfo},
		{"UrlGeneralInfo", (*flattener).urlGeneralInfo},
		{"DomainWhoIsInfo", (*flattener).domainWhoIs},
		{"UrlDomainWhoIs", (*flattener).domainWhoIs},
		{"DomainDnsResolutions", (*flattener).domainDNSResolutions},
		{"UrlReferrals", (*flattener).urlReferrals},
		{"UrlReferredTo", (*flattener).urlReferredTo},
		{"Subdomains", (*flattener).subdomains},
		{"FilesAccessed", (*flattener).filesAccessed},
		{"FilesDownloaded", (*flattener).filesDownloaded},
	}
}

// ---- hash ----

func (f *flattener) fileGeneralInfo(v any) {
	m, _ := v.(map[string]any)
	f.copyKeys(m, []keyField{
		{"HitsCount", "KLHits"}, {"FirstSeen", "KLFirstSeen"}, {"LastSeen", "KLLastSeen"},
		{"Md5", "KLMd5"}, {"Sha1", "KLSha1"}, {"Sha256", "KLSha256"}, {"Type", "KLFormat"},
		{"Size", "KLSize"}, {"Signer", "KLSigner"}, {"Packer", "KLPacker"},
	})
}

func (f *flattener) detectionsInfo(v any) {
	f.set(collect(v, field("DetectionName")), "KLDetectionNames")
	f.set(collect(v, field("DescriptionUrl")), "KLDescriptionURL")
}

func (f *flattener) fileNames(v any) {
	f.set(collect(v, func(item any) any {
		if s, ok := item.(string); ok {
			return s
		}
		return first(item, "FileName", "FileNames")
	}), "KLFileNames")
}

func (f *flattener) fileAccessedURLs(v any) {
	f.bucket(v, field("Url"), []string{"KL%FileAccessedURL"}, "KLYellowFileAccesedURL")
	f.bucket(v, func(item any) any {
		if d := first(item, "Domain"); !empty(d) {
			return d
		}
		if u, ok := first(item, "Url").(string); ok {
			if h := hostOf(u); h != "" {
				return h
			}
		}
		return nil
	}, []string{"KL%FileAccessedDomain"}, "KLYellowFileAccesedDomain")
}

// hostOf returns the host of a URL as TIP writes them (usually without a
// scheme).
func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 && !strings.Contains(u[i:], "]") {
		u = u[:i]
	}
	return u
}

// ---- ip ----

func (f *flattener) ipGeneralInfo(v any) {
	m, _ := v.(map[string]any)
	f.copyKeys(m, []keyField{
		{"Categories", "KLCategory"}, {"FirstSeen", "KLFirstSeen"}, {"HitsCount", "KLHits"},
		{"ThreatScore", "KLThreatScore"}, {"HasApt", "KLHasAdvancedPersistThreat"},
	})
}

func (f *flattener) ipWhoIs(v any) {
	m, _ := v.(map[string]any)
	if net, ok := m["Net"].(map[string]any); ok {
		f.copyKeys(net, []keyField{
			{"Created", "KLCreated"}, {"Changed", "KLChanged"}, {"Name", "KLNetname"},
			{"Description", "KLNetDescription"},
		})
		start, _ := first(net, "RangeStart", "StartIp").(string)
		end, _ := first(net, "RangeEnd", "EndIp").(string)
		if start != "" && end != "" {
			f.set(start+"-"+end, "KLIPRange")
		}
	}
	f.set(collect(m["Asn"], func(item any) any { return first(item, "Number", "Origin") }), "KLASN")
	f.set(collect(m["Asn"], field("Description")), "KLASDescription")
	f.contacts.add(m["Contacts"])
}

func (f *flattener) ipDNSResolutions(v any) {
	f.set(collect(v, field("Categories")), "KLIPDNSResolustionsCategories", "KLIPDNSResolutionsCategories")
	f.set(collect(v, field("Domain")), "KLIPDNSResolustionsDomains", "KLIPDNSResolutionsDomains")
}

func (f *flattener) filesDownloadedFromIP(v any) {
	f.bucket(v, field("Md5"), []string{"KL%Md5"})
}

func (f *flattener) hostedURLs(v any) {
	f.set(collect(v, field("Url")), "KLHostedURL")
}

// ---- domain and url ----

func (f *flattener) domainGeneralInfo(v any) {
	m, _ := v.(map[string]any)
	f.set(collect(m["Categories"], identity), "KLCategories")
	f.copyKeys(m, []keyField{
		{"Domain", "KLDomain"}, {"FilesCount", "KLFilesCount"}, {"HitsCount", "KLHits"},
		{"Ipv4Count", "KLIPv4Count"}, {"UrlsCount", "KLURLCount"}, {"HasApt", "KLHasAdvancedPersistThreat"},
	})
}

func (f *flattener) urlGeneralInfo(v any) {
	m, _ := v.(map[string]any)
	f.copyKeys(m, []keyField{
		{"Categories", "KLURLCategories"}, {"FilesCount", "KLFilesCount"}, {"Ipv4Count", "KLIPv4Count"},
		{"HasApt", "KLHasAdvancedPersistThreat"}, {"Url", "KLURL"}, {"Host", "KLHost"},
	})
}

// domainWhoIs reads DomainWhoIsInfo and UrlDomainWhoIs, which share a shape.
func (f *flattener) domainWhoIs(v any) {
	m, _ := v.(map[string]any)
	f.copyKeys(m, []keyField{
		{"Created", "KLCreated"}, {"DomainName", "KLDomainName"}, {"DomainStatus", "KLDomainStatus"},
		{"Expires", "KLExpires"}, {"NameServers", "KLNameServers"},
		{"RegistrationOrganization", "KLRegistrationOrganization"}, {"Updated", "KLUpdated"},
	})
	reg, _ := m["Registrar"].(map[string]any)
	f.copyKeys(reg, []keyField{
		{"Email", "KLRegistrarEmail"}, {"IanaId", "KLRegistrarIanaId"}, {"Info", "KLRegistrarInfo"},
	})
	f.contacts.add(m["Contacts"])
}

func (f *flattener) domainDNSResolutions(v any) {
	var patterns []string
	switch f.typ {
	case indicator.Domain:
		patterns = []string{"KL%DomainDnsResolutionsIP"}
	case indicator.URL:
		patterns = []string{"KL%IPResoutions", "KL%IPResolutions"}
	default:
		patterns = []string{"KL%DomainDnsResolutionsIP", "KL%IPResoutions", "KL%IPResolutions"}
	}
	f.bucket(v, field("Ip"), patterns)
}

func (f *flattener) urlReferrals(v any) {
	f.bucket(v, field("Url"), []string{"KL%URLReferrals", "KL%UrlReferrals"})
}

func (f *flattener) urlReferredTo(v any) {
	f.bucket(v, field("Url"), []string{"KL%URLReferredTo", "KL%UrlReferredTo"})
}

func (f *flattener) subdomains(v any) {
	if m, ok := v.(map[string]any); ok {
		// The shape the plugin assumed for this field.
		f.set(m["FilesCount"], "KLSubdomainsFilesCount")
		return
	}
	f.bucket(v, field("Subdomain"), []string{"KL%Subdomains"})
	f.set(sumInts(v, "FilesCount"), "KLSubdomainsFilesCount")
}

func (f *flattener) filesAccessed(v any) {
	f.bucket(v, field("Md5"), []string{"KL%FileAccessedMd5"}, "KLYellowFileAccesedMd5")
}

func (f *flattener) filesDownloaded(v any) {
	f.bucket(v, field("Md5"), []string{"KL%FileDownloadedMd5"})
}

// ---- lists ----

// bucket writes the values of a list's items into their zone's fields: each
// pattern ("KL%Md5") with % replaced by the zone. yellowTypo, when set, is one
// more name for the Yellow bucket (the plugin's misspelt Yellow line).
func (f *flattener) bucket(list any, value func(any) any, patterns []string, yellowTypo ...string) {
	items, _ := list.([]any)
	byZone := make(map[string][]any, len(zones()))
	for _, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		zs, _ := m["Zone"].(string)
		z, ok := canonicalZone(zs)
		if !ok {
			continue
		}
		byZone[z] = append(byZone[z], value(m))
	}
	for _, z := range zones() {
		vals := dedupe(byZone[z])
		if len(vals) == 0 {
			continue
		}
		names := make([]string, 0, len(patterns)+len(yellowTypo))
		for _, p := range patterns {
			names = append(names, strings.Replace(p, "%", z, 1))
		}
		if z == zoneYellow {
			names = append(names, yellowTypo...)
		}
		f.set(vals, names...)
	}
}

// collect gathers value(item) over a list, flattening values that are lists
// themselves, skipping empty ones and de-duplicating. A lone object is read
// as a list of one.
func collect(list any, value func(any) any) []any {
	var items []any
	switch x := list.(type) {
	case []any:
		items = x
	case map[string]any:
		items = []any{x}
	}
	var vals []any
	for _, item := range items {
		vals = append(vals, value(item))
	}
	return dedupe(vals)
}

// dedupe flattens one level of nested lists, drops empty values and keeps the
// first of equal ones.
func dedupe(vals []any) []any {
	var out []any
	seen := make(map[string]bool, len(vals))
	add := func(v any) {
		if empty(v) {
			return
		}
		key := dedupeKey(v)
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, v)
	}
	for _, v := range vals {
		if l, ok := v.([]any); ok {
			for _, e := range l {
				add(e)
			}
			continue
		}
		add(v)
	}
	return out
}

func dedupeKey(v any) string {
	if s, ok := v.(string); ok {
		return "s" + s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?" // unreachable for decoded JSON; keeps the value once
	}
	return "j" + string(b)
}

// sumInts adds the integer key of every item of a list; nil when no item has
// one.
func sumInts(list any, key string) any {
	items, _ := list.([]any)
	var sum big.Int
	found := false
	for _, item := range items {
		n, ok := first(item, key).(json.Number)
		if !ok {
			continue
		}
		var x big.Int
		if _, ok := x.SetString(n.String(), 10); !ok {
			continue
		}
		sum.Add(&sum, &x)
		found = true
	}
	if !found {
		return nil
	}
	return json.Number(sum.String())
}

// ---- small accessors ----

func identity(v any) any { return v }

// field returns an accessor for key of an object item.
func field(key string) func(any) any {
	return func(item any) any { return first(item, key) }
}

// first returns the first non-empty value of keys in an object item: the
// current TIP name first, then older ones.
func first(item any, keys ...string) any {
	m, ok := item.(map[string]any)
	if !ok {
		return nil
	}
	for _, k := range keys {
		if v := m[k]; !empty(v) {
			return v
		}
	}
	return nil
}
