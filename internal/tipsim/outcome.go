package tipsim

import (
	"net/netip"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Zones as TIP spells them.
const (
	ZoneRed    = "Red"
	ZoneOrange = "Orange"
	ZoneYellow = "Yellow"
	ZoneGrey   = "Grey"
	ZoneGreen  = "Green"
)

// MaxURLLength is TIP's limit for url lookups, in characters of the decoded
// value; longer values are answered 414.
const MaxURLLength = 2000

// notFoundLabel as a first label forces a 404 (see the package doc).
const notFoundLabel = "notfound"

// Outcome says what the simulator answers for an indicator, value as tipgate
// sends it (normalised, URL percent-decoded): the zone and whether the object
// is found (false: a 404). A not-found indicator reports zone Grey, which is
// what tipgate reports for TIP's 404. The package doc lists the forced
// outcomes. Outcome assumes a value the simulator accepts.
func Outcome(t indicator.Type, value string) (zone string, found bool) {
	v := canonical(t, value)
	switch t {
	case indicator.Hash:
		if strings.HasPrefix(v, "0000") {
			return ZoneGrey, false
		}
	case indicator.IP:
		if addr, err := netip.ParseAddr(v); err == nil {
			if b := addr.As4(); b[0] == 192 && b[1] == 0 && b[2] == 2 {
				return ZoneGrey, false
			}
			if reservedIP(addr) {
				return ZoneGrey, true
			}
		}
	case indicator.Domain, indicator.URL:
		host := v
		if t == indicator.URL {
			host, _ = urlHost(v)
		}
		first, _, _ := strings.Cut(host, ".")
		if first == notFoundLabel {
			return ZoneGrey, false
		}
		if z, ok := forcedZone(first); ok {
			return z, true
		}
	}
	if f, ok := fixtureFor(t, v); ok {
		if sections, err := f.sections(); err == nil {
			if z, ok := fixtureZone(sections); ok {
				return z, true
			}
		}
	}
	return drawnZone(t, v), true
}

// forcedZone maps a first label such as "red" to its zone.
func forcedZone(label string) (string, bool) {
	for _, z := range []string{ZoneRed, ZoneOrange, ZoneYellow, ZoneGrey, ZoneGreen} {
		if label == strings.ToLower(z) {
			return z, true
		}
	}
	return "", false
}

// drawnZone picks the zone of an indicator nothing forces. Hashes are never
// Orange: TIP does not use it for files.
func drawnZone(t indicator.Type, v string) string {
	r := newRNG(string(t), v, "Zone")
	if t == indicator.Hash {
		return weighted(r, []string{ZoneRed, ZoneYellow, ZoneGrey, ZoneGreen}, []int{30, 20, 25, 25})
	}
	return weighted(r, []string{ZoneRed, ZoneOrange, ZoneYellow, ZoneGrey, ZoneGreen}, []int{25, 10, 15, 25, 25})
}

func reservedIP(a netip.Addr) bool {
	b := a.As4()
	switch {
	case b[0] == 0, b[0] == 10, b[0] == 127, b[0] >= 224: // 224/4 multicast, 240/4 class E, broadcast
		return true
	case b[0] == 100 && b[1]&0xc0 == 64: // 100.64/10 carrier-grade NAT
		return true
	case b[0] == 169 && b[1] == 254, b[0] == 192 && b[1] == 168:
		return true
	case b[0] == 172 && b[1]&0xf0 == 16:
		return true
	}
	return false
}

// canonical is the form data is generated from, so that case variants of a
// hash or domain get the same answer. URLs are taken as sent: tipgate
// normalises them, and a path may be case-sensitive.
func canonical(t indicator.Type, v string) string {
	switch t {
	case indicator.Hash:
		v = strings.ToLower(v)
		if v == FixtureSHA1 || v == FixtureSHA256 {
			// The fixture's three hashes name one file: one answer.
			return FixtureMD5
		}
		return v
	case indicator.Domain:
		return strings.ToLower(strings.TrimSuffix(v, "."))
	}
	return v
}
