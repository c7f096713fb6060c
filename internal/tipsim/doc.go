// Package tipsim owns tipgate's stand-in for TIP: an HTTP handler that speaks
// the Threat Lookup API as shared/tip-api.md describes it (mTLS, Basic or
// Bearer auth, real section names and field shapes, sections and count,
// LicenseInfo with a day counter, 404 for unknown objects), deterministic per
// indicator, with request counting and fault injection for tests. It is shared
// by cmd/tipsim, `tipgate demo` and the tests.
//
// # Requests
//
//	GET /api/{hash|ip|domain|url}/{value}?sections=A,B&count=N
//
// The value is one path segment, percent-decoded from the raw path (a URL
// arrives as example.com%2Fa%3Fb%3Dc). Sections are comma-separated, in any
// order, case-sensitive; without them every section of the type is
// returned. count (default 1000) caps every list section except
// DetectionsInfo and FileParentCertificates, which are always complete. An
// unknown section or an invalid value is a 400 with a JSON reason, a URL over
// 2000 characters a 414, a method other than GET a 405.
//
// # Authentication
//
// Classic mode: HTTP Basic with the Credentials' username and password, over a
// connection that presented a client certificate signed by their CA. Token
// mode (Options.Token): "Authorization: Bearer <token>", no certificate
// needed. Anything else is a 401.
//
// # Data
//
// Every answer is a function of (type, value): the zone, and for each
// section data in TIP's shapes (upper-case hashes, keys left out when there
// is no value, list dates to the minute, detection dates with fractions),
// each list item with its own Zone. A smaller count returns a prefix of a
// larger one. The fixture indicators (FixtureMD5 and its SHA-1 and SHA-256,
// FixtureIP, FixtureDomain, FixtureURL) answer with real captured TIP data
// for the sections it has.
//
// # Forced outcomes
//
// Tests choose what the simulator answers through the indicator itself;
// Outcome reports it:
//
//   - a domain, or a URL's host, whose first label is red, orange, yellow,
//     grey or green gets that zone (red.example.com is Red);
//   - a domain or URL host whose first label is "notfound" is answered 404;
//   - a hash beginning with "0000" is answered 404;
//   - an IP in 192.0.2.0/24 (TEST-NET-1) is answered 404;
//   - a reserved or private IP (0/8, 10/8, 100.64/10, 127/8, 169.254/16,
//     172.16/12, 192.168/16, 224/4 and above) is answered with IpGeneralInfo
//     Status "reserved", zone Grey, and only the LicenseInfo, Zone,
//     IpGeneralInfo and IpWhoIs sections, as TIP documents;
//   - anything else gets a zone drawn from a hash of the indicator (hashes
//     are never Orange).
//
// # Quota
//
// Every served lookup (200 or 404) counts against the UTC day's quota
// (Options.DayQuota); LicenseInfo reports the count including the current
// request. Once the count reaches the quota, lookups are answered 403.
package tipsim
