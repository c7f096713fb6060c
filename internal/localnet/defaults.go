package localnet

import "net/netip"

// DefaultNets returns the IPv4 ranges that are never anyone's public
// address, so TIP can say nothing useful about them: the special-purpose
// blocks of the IANA registry (RFC 6890) that a SIEM actually sees. It
// returns a new slice on every call.
func DefaultNets() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791, RFC 1122 §3.2.1.3)
		netip.MustParsePrefix("10.0.0.0/8"),      // private use (RFC 1918)
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space, carrier-grade NAT (RFC 6598)
		netip.MustParsePrefix("127.0.0.0/8"),     // loopback (RFC 1122 §3.2.1.3)
		netip.MustParsePrefix("169.254.0.0/16"),  // link-local (RFC 3927)
		netip.MustParsePrefix("172.16.0.0/12"),   // private use (RFC 1918)
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890 §2.2.2)
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation, TEST-NET-1 (RFC 5737)
		netip.MustParsePrefix("192.168.0.0/16"),  // private use (RFC 1918)
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
		netip.MustParsePrefix("198.51.100.0/24"), // documentation, TEST-NET-2 (RFC 5737)
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation, TEST-NET-3 (RFC 5737)
		netip.MustParsePrefix("224.0.0.0/4"),     // multicast (RFC 5771)
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved for future use (RFC 1112 §4)
		// Limited broadcast lies inside 240/4; it is listed on its own so
		// that a copy of this list edited to drop 240/4 still has it.
		netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (RFC 919, RFC 8190)
	}
}

// DefaultDomains returns the domain suffixes that name hosts inside an
// organisation rather than on the internet: reserved for that use, or so
// widely used that way that TIP's answer would be about someone else's
// network. It returns a new slice on every call.
func DefaultDomains() []string {
	return []string{
		"localhost", // the local host (RFC 6761 §6.3)
		"local",     // multicast DNS (RFC 6762)
		"internal",  // reserved by ICANN for private use (2024)
		"home.arpa", // home networks (RFC 8375)
		"lan",       // common private names that RFC 6762 Appendix G warns
		"home",      // against but routers and AD domains still use; ICANN
		"corp",      // will not delegate .home and .corp (name collision, 2018)
	}
}
