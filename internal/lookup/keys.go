package lookup

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// keyVersion is the key format's version. A change empties a production
// cache and costs a day of quota, so it is rare: v2 added the upstream
// namespace. Values carry a version byte of their own (entry.go), and a new
// entry format reads the old one rather than bumping this.
const keyVersion = "v2"

// Namespace names the upstream a store's entries came from: the key
// format's version and a short hash of TIP's base URL. A gateway pointed at
// the demo's simulator or a test TIP and one pointed at the real TIP can
// share a Redis database without ever serving each other's answers.
func Namespace(tipURL string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(tipURL, "/")))
	return keyVersion + ":" + hex.EncodeToString(sum[:4])
}

// Key is the store key of one section of one indicator under namespace ns.
// The braces are a Redis Cluster hash tag: every section of an indicator
// lands in one slot, so one MGET reads them all. A value holding a brace
// still yields one slot per indicator, because Redis hashes up to the first
// closing brace and that prefix is the same for all of an indicator's keys.
func Key(ns string, ind indicator.Indicator, section string) string {
	var b strings.Builder
	b.Grow(stemLen(ns, ind) + len(section))
	writeStem(&b, ns, ind)
	b.WriteString(section)
	return b.String()
}

// writeStem writes what every key of ind's sections starts with; stemLen
// is its length.
func writeStem(b *strings.Builder, ns string, ind indicator.Indicator) {
	b.WriteString("tipgate:")
	b.WriteString(ns)
	b.WriteByte(':')
	writeTag(b, ind)
	b.WriteByte(':')
}

func stemLen(ns string, ind indicator.Indicator) int {
	return len("tipgate:") + len(ns) + len(":") + tagLen(ind) + len(":")
}

func (s *Service) key(ind indicator.Indicator, section string) string {
	return Key(s.ns, ind, section)
}

// tag is ind's Redis Cluster hash tag, which lock keys carry too.
func tag(ind indicator.Indicator) string {
	var b strings.Builder
	b.Grow(tagLen(ind))
	writeTag(&b, ind)
	return b.String()
}

func writeTag(b *strings.Builder, ind indicator.Indicator) {
	b.WriteByte('{')
	b.WriteString(string(ind.Type))
	b.WriteByte(':')
	b.WriteString(ind.Value)
	b.WriteByte('}')
}

func tagLen(ind indicator.Indicator) int { return len("{:}") + len(ind.Type) + len(ind.Value) }

// keysInto fills keys (len(sections)+1 of them) with the store keys of
// ind's Zone entry and sections, in that order, cut from one string: a hit
// pays one allocation for them, not one per key.
func (s *Service) keysInto(keys []string, ind indicator.Indicator, sections []string) {
	name := func(i int) string {
		if i == 0 {
			return tip.SectionZone
		}
		return sections[i-1]
	}
	stem := stemLen(s.ns, ind)
	size := 0
	for i := range keys {
		size += stem + len(name(i))
	}
	var b strings.Builder
	b.Grow(size)
	for i := range keys {
		writeStem(&b, s.ns, ind)
		b.WriteString(name(i))
	}
	all := b.String()
	for i := range keys {
		n := stem + len(name(i))
		keys[i], all = all[:n], all[n:]
	}
}
