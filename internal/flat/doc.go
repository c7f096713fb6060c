// Package flat owns the flat KL* fields of the DNIF "Kaspersky TIP" SIEM
// lookup plugin (shared/seeds/000_8ebc2e22502b65b4.txt, the document; the
// plugin's code is dnif/lookup-kaspersky kaspersky.py), computed from a lookup
// result, and the plugin's seven functions: which indicator type each takes
// and which sections its fields need. A SIEM that called the plugin switches
// to tipgate by changing one URL and keeps its field names; FIELDS.md lists
// every field and where it comes from.
//
// # Rules
//
// Values keep their JSON type: numbers stay numbers (json.Number, so large
// integers are exact), booleans booleans, lists arrays. A field is written
// only when its source holds a value: null, "", [] and {} write nothing, as
// the plugin skipped None and empty lists. False and 0 are values.
//
// KLZone is always written, from Result.Zone; a not-found result (TIP's 404,
// or an indicator answered locally) is KLZone "Grey" and nothing else: the
// document defines Grey as "no data is available for the investigated
// object".
//
// Zone-bucketed lists (KLRed…, KLGreen…, KLGrey…, KLYellow…) collect a field
// of every list item whose own Zone is that zone, compared case-insensitively
// and with "Gray" read as Grey (tip-api.md §5). The plugin dropped Orange
// items; here they go to the Orange bucket (KLOrange…), named like the other
// four. Items without a known zone go nowhere. Lists are de-duplicated,
// keeping first-seen order (the plugin de-duplicated most lists through a
// Python set, whose order is arbitrary).
//
// Spellings: where the document and the plugin's code spell a field
// differently, both are written with the same value: KL<Zone>UrlReferrals and
// KL<Zone>URLReferrals, KL<Zone>UrlReferredTo and KL<Zone>URLReferredTo (for
// domains and URLs alike, all five zones), and the code's Yellow-only typos
// KLYellowFileAccesedMd5, KLYellowFileAccesedURL and KLYellowFileAccesedDomain
// next to the correct KLYellowFileAccessed… (the typo exists only in the
// Yellow line, so no other zone gets it). Where the document's own name is a
// misspelling a SIEM may depend on, it is kept and the corrected name is
// written too: KLIPDNSResolustionsDomains and KLIPDNSResolutionsDomains,
// KLIPDNSResolustionsCategories and KLIPDNSResolutionsCategories,
// KL<Zone>IPResoutions and KL<Zone>IPResolutions.
//
// TIP field names, old and new (tip-api.md §5): IpWhoIs.Net.RangeStart and
// RangeEnd or the 2018 StartIp and EndIp; IpWhoIs.Asn[].Number or Origin;
// Contacts[].ContactType or Role; FileNames[].FileName or the plugin's
// FileNames. The current name wins when both are present.
//
// DomainDnsResolutions feeds KL<Zone>DomainDnsResolutionsIP for a domain and
// KL<Zone>IPResoutions/IPResolutions for a URL, as the document names them
// per function; a result of any other type gets both.
//
// # WHOIS contacts
//
// Each contact of IpWhoIs, DomainWhoIsInfo or UrlDomainWhoIs writes
// KL<Type><Field> for Field in Address, City, CountryCode, Email, Fax, Name,
// Organization, OrganizationId, Phone, PostalCode and State, whatever its
// type: "owner" gives KLOwnerName, "technical" KLTechnicalPhone. Type is the
// contact's ContactType (or Role) title-cased as the plugin's Python
// str.title() does, then stripped of everything but ASCII letters and digits
// so that the name stays an identifier ("admin-c" gives KLAdminCEmail); a
// contact without a usable type is skipped. One contact of a type gives plain
// values; several contacts of one type give arrays, one element per contact
// of that type in order, null where that contact lacks the field, so that
// KLOwnerName[i] and KLOwnerEmail[i] describe the same contact.
//
// One source per field: when a contact-derived name is also a field with a
// fixed JSON path, the fixed path wins, being the more specific source. The
// case that occurs is the registrar: KLRegistrarEmail, KLRegistrarIanaId and
// KLRegistrarInfo come from the WHOIS Registrar object, and a contact of type
// "registrar" fills only what the object lacks (its Name, Phone, …, and its
// Email when the object has none). The rule is applied per field.
//
// # Derived values
//
// KLIPRange is "<start>-<end>", written only when both ends are known.
// KLASDescription lists every AS description line (TIP now sends each
// Description as an array). KL<Zone>FileAccessedDomain falls back to the host
// of the item's Url when the item has no Domain. KLSubdomainsFilesCount is
// the plugin's Subdomains.FilesCount when Subdomains is an object (the shape
// the plugin assumed); TIP returns a list, so it is the sum of the items'
// FilesCount over the subdomains returned.
package flat
