// Package tipsim owns tipgate's stand-in for TIP: an HTTP handler that speaks
// the Threat Lookup API as shared/tip-api.md describes it (mTLS, Basic or
// Bearer auth, real section names and field shapes, sections and count,
// LicenseInfo with a day counter, 404 for unknown objects), deterministic per
// indicator, with request counting and fault injection for tests. It is shared
// by cmd/tipsim, `tipgate demo` and the tests.
package tipsim
