package tipsim

import "github.com/tipgate/tipgate/internal/indicator"

// Names of the sections the handler writes itself rather than generating.
const (
	sectionZone    = "Zone"
	sectionLicense = "LicenseInfo"
)

// section is one section of one indicator type as TIP serves it
// (shared/tip-api.md §2).
type section struct {
	name string
	// list sections are JSON arrays, which count cuts; the others are one
	// object (or, for Zone, a string).
	list bool
	// uncounted lists are returned in full whatever count says, as TIP
	// documents for DetectionsInfo and FileParentCertificates.
	uncounted bool
}

// catalog is the simulator's own list of TIP's sections per type, in the
// order it answers them. It is deliberately not the client's tip.Catalog:
// the simulator is what tests tipgate's client against TIP, and a mistake in
// the client's catalog would otherwise be mirrored here and never caught.
// TestSectionsAgreeWithClient is the one place the two meet.
type catalog map[indicator.Type][]section

// newCatalog returns TIP's sections per indicator type.
func newCatalog() catalog {
	obj := func(n string) section { return section{name: n} }
	list := func(n string) section { return section{name: n, list: true} }
	uncounted := func(n string) section { return section{name: n, list: true, uncounted: true} }
	// Every type has Zone, LicenseInfo, RelatedObjects and Industries.
	common := func(s ...section) []section {
		return append([]section{obj(sectionZone), obj(sectionLicense), obj("RelatedObjects")}, append(s, list("Industries"))...)
	}
	return catalog{
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
	}
}

// find returns t's section called name. Names are case-sensitive, as TIP's
// are.
func (c catalog) find(t indicator.Type, name string) (section, bool) {
	for _, s := range c[t] {
		if s.name == name {
			return s, true
		}
	}
	return section{}, false
}
