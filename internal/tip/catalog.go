package tip

import (
	"slices"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Kind says how a section's JSON is shaped, which decides how a record limit
// applies to it.
type Kind string

const (
	// Object sections are a single JSON object (or, for Zone, a string); a
	// record limit does not apply to them.
	Object Kind = "object"
	// List sections are JSON arrays; TIP's count caps them.
	List Kind = "list"
)

// Names of the sections with a special role.
const (
	SectionZone    = "Zone"
	SectionLicense = "LicenseInfo"
)

// Section describes one TIP section of one indicator type.
type Section struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Default sections are returned when a caller names none.
	Default bool `json:"default"`
	// Uncounted lists are returned in full whatever count says (TIP's
	// documented exception for DetectionsInfo and FileParentCertificates), so
	// one cached copy can serve any limit.
	Uncounted bool `json:"-"`
}

// Catalog is the set of sections TIP serves per indicator type, drawn from
// shared/tip-api.md §2. It is immutable once built.
type Catalog struct {
	byType map[indicator.Type][]Section
	// byName indexes canonical names: the lookup hot path asks with them.
	byName map[indicator.Type]map[string]Section
}

// NewCatalog returns the catalog of TIP Threat Lookup sections.
func NewCatalog() *Catalog {
	obj := func(n string) Section { return Section{Name: n, Kind: Object, Default: true} }
	list := func(n string) Section { return Section{Name: n, Kind: List, Default: true} }
	uncounted := func(n string) Section { return Section{Name: n, Kind: List, Default: true, Uncounted: true} }
	// Zone and LicenseInfo are valid names for every type but play special
	// roles: Zone is always fetched and reported at the top level, LicenseInfo
	// is fetched for quota tracking and never returned.
	common := func(s ...Section) []Section {
		return append([]Section{
			{Name: SectionZone, Kind: Object},
			{Name: SectionLicense, Kind: Object},
			obj("RelatedObjects"),
		}, append(s, list("Industries"))...)
	}
	c := &Catalog{byType: map[indicator.Type][]Section{
		indicator.Hash: common(
			obj("FileGeneralInfo"),
			uncounted("DetectionsInfo"),
			list("FileDownloadedFromUrls"),
			list("FileAccessedUrls"),
			list("FileNames"),
			list("FilePaths"),
			list("FileCertificates"),
			uncounted("FileParentCertificates"),
			list("FileStartedObjects"),
			list("FileStartedBy"),
			list("FileDownloadedObjects"),
			list("FileDownloadedBy"),
		),
		indicator.IP: common(
			obj("IpGeneralInfo"),
			obj("IpWhoIs"),
			list("IpDnsResolutions"),
			list("FilesDownloadedFromIp"),
			list("HostedUrls"),
		),
		indicator.Domain: common(
			obj("DomainGeneralInfo"),
			obj("DomainWhoIsInfo"),
			list("DomainDnsResolutions"),
			list("FilesDownloaded"),
			list("FilesAccessed"),
			list("UrlReferrals"),
			list("UrlReferredTo"),
			list("Subdomains"),
			list("FeedMasks"),
		),
		indicator.URL: common(
			obj("UrlGeneralInfo"),
			obj("UrlDomainWhoIs"),
			list("DomainDnsResolutions"),
			list("FilesDownloaded"),
			list("FilesAccessed"),
			list("UrlReferrals"),
			list("UrlReferredTo"),
			list("FeedMasks"),
		),
	}, byName: map[indicator.Type]map[string]Section{}}
	for t, sections := range c.byType {
		c.byName[t] = make(map[string]Section, len(sections))
		for _, sec := range sections {
			c.byName[t][sec.Name] = sec
		}
	}
	return c
}

// All returns every section of t that TIP knows, Zone and LicenseInfo included.
func (c *Catalog) All(t indicator.Type) []Section {
	return slices.Clone(c.byType[t])
}

// Lookup returns every section of t a caller may ask for and receive in
// "sections": all but Zone (reported at the top level) and LicenseInfo
// (never returned).
func (c *Catalog) Lookup(t indicator.Type) []Section {
	var out []Section
	for _, s := range c.byType[t] {
		if s.Name != SectionZone && s.Name != SectionLicense {
			out = append(out, s)
		}
	}
	return out
}

// Defaults returns the names of the sections returned when a caller names none.
func (c *Catalog) Defaults(t indicator.Type) []string {
	var out []string
	for _, s := range c.byType[t] {
		if s.Default {
			out = append(out, s.Name)
		}
	}
	return out
}

// Find resolves a section name of type t case-insensitively to its canonical
// entry.
func (c *Catalog) Find(t indicator.Type, name string) (Section, bool) {
	if s, ok := c.byName[t][name]; ok {
		return s, true
	}
	for _, s := range c.byType[t] {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Section{}, false
}
