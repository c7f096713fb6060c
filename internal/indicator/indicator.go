// Package indicator owns what tipgate accepts as an indicator of compromise:
// refanging, type detection, validation and normalisation of file hashes,
// IPv4 addresses, domains and URLs. It is pure (no I/O) so that everything a
// caller types can be fuzzed before it can reach TIP or the cache.
package indicator

import (
	"fmt"
	"strings"
)

// Type is an indicator type as TIP names it in its lookup paths
// (/api/{type}/{value}).
type Type string

// The four indicator types TIP Threat Lookup answers for.
const (
	Hash   Type = "hash"
	IP     Type = "ip"
	Domain Type = "domain"
	URL    Type = "url"
)

// Types returns every type in a stable order.
func Types() []Type { return []Type{Hash, IP, Domain, URL} }

// ParseType reads a type name case-insensitively. The empty string is valid
// and means "detect it".
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToLower(strings.TrimSpace(s))); t {
	case "", Hash, IP, Domain, URL:
		return t, nil
	}
	return "", &Error{Input: s, Reason: fmt.Sprintf("unknown type %q: use hash, ip, domain or url", s)}
}

// Indicator is a validated, normalised indicator. Value is the form sent to
// TIP and used as the cache key: equivalent inputs yield equal Indicators.
type Indicator struct {
	Type  Type
	Value string
}

func (i Indicator) String() string { return string(i.Type) + ":" + i.Value }

// Error says why an input is not a valid indicator. Reason is a sentence a
// person can act on; it never echoes more than a bounded prefix of the input.
type Error struct {
	Input  string // the raw input, possibly truncated
	Type   Type   // the type that was asked for or detected, if any
	Reason string
}

func (e *Error) Error() string { return e.Reason }
