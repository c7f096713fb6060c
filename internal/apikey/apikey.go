// Package apikey owns tipgate's client API keys: parsing and validating the
// keys file, recognising a presented key, and the roles a key grants. A key
// is only ever held as the hex SHA-256 of its text, so neither the file nor
// this package's memory can leak a usable key.
package apikey

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Role is a permission a key grants.
type Role string

// The roles of DESIGN.md.
const (
	// Lookup allows lookups, batch lookups and the sections listing.
	Lookup Role = "lookup"
	// Refresh allows forced refreshes that always spend TIP quota.
	Refresh Role = "refresh"
	// Admin allows the status report and cache purges.
	Admin Role = "admin"
)

// AllRoles returns every role, in a stable order.
func AllRoles() []Role { return []Role{Lookup, Refresh, Admin} }

func (r Role) valid() bool { return slices.Contains(AllRoles(), r) }

// Roles is the set of roles one key grants.
type Roles []Role

// Has reports whether r is among the roles.
func (rs Roles) Has(r Role) bool { return slices.Contains(rs, r) }

// Key is a recognised caller. Name is safe to log; the key's text is never
// kept.
type Key struct {
	Name string
	Roles
}

// clone keeps callers from changing the keyring's roles through the slice.
func (k Key) clone() Key { return Key{Name: k.Name, Roles: slices.Clone(k.Roles)} }

// Keyring holds the keys of one keys file. It is immutable once loaded and
// safe for concurrent use.
type Keyring struct {
	keys   []entry // in file order
	byName map[string]int
}

type entry struct {
	key    Key
	digest [sha256.Size]byte
}

// Prefix starts every key made by Generate, so a leaked key is easy to
// recognise in a secret scanner.
const Prefix = "tg_"

// maxNameLen bounds a key name, which appears in every access log line.
const maxNameLen = 64

// fileFormat is the JSON keys file of DESIGN.md.
type fileFormat struct {
	Keys []fileKey `json:"keys"`
}

type fileKey struct {
	Name   string   `json:"name"`
	SHA256 string   `json:"sha256"`
	Roles  []string `json:"roles"`
}

// Load parses and validates a keys file:
//
//	{"keys": [{"name": "siem", "sha256": "<hex>", "roles": ["lookup"]}]}
//
// It reports every problem it finds in one error, so an operator can fix the
// file in one pass.
func Load(data []byte) (*Keyring, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(`the API keys file is empty; it must hold {"keys": [{"name": …, "sha256": …, "roles": […]}]}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Unknown fields are most likely typos ("role", "hash") that would
	// otherwise silently lock a caller out or grant nothing.
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("the API keys file is not valid: %w", err)
	}
	if dec.More() {
		return nil, errors.New("the API keys file is not valid: it holds more than one JSON value")
	}
	if len(f.Keys) == 0 {
		return nil, errors.New(`the API keys file has no keys; add at least one to "keys"`)
	}

	kr := &Keyring{byName: make(map[string]int, len(f.Keys))}
	var problems []string
	// Both are filled whatever else is wrong with a key, so a duplicate is
	// reported even when its first use had another problem.
	names := make(map[string]int, len(f.Keys))
	digests := make(map[[sha256.Size]byte]int, len(f.Keys))
	for i, fk := range f.Keys {
		where := fmt.Sprintf("keys[%d]", i)
		if fk.Name != "" {
			where += fmt.Sprintf(" (%q)", fk.Name)
		}
		bad := func(format string, args ...any) {
			problems = append(problems, where+": "+fmt.Sprintf(format, args...))
		}
		ok := true

		switch {
		case fk.Name == "":
			bad("name is missing; give every key a name, which appears in logs instead of the key")
			ok = false
		case len(fk.Name) > maxNameLen:
			bad("name is %d bytes long; use at most %d", len(fk.Name), maxNameLen)
			ok = false
		case !validName(fk.Name):
			// A colon cannot appear in an HTTP Basic user name, and the
			// name is the Basic user of the CyberTrace endpoints.
			bad("name may not contain spaces, colons or control characters")
			ok = false
		default:
			if j, dup := names[fk.Name]; dup {
				bad("name is also used by keys[%d]; names must be unique", j)
				ok = false
			} else {
				names[fk.Name] = i
			}
		}

		var digest [sha256.Size]byte
		const hint = "the 64 hexadecimal characters of the key's SHA-256 (for example from `printf %s KEY | sha256sum`)"
		// The length is checked first: hex.Decode writes past a short
		// destination.
		switch {
		case len(fk.SHA256) != hex.EncodedLen(sha256.Size):
			bad("sha256 must be %s, got %d characters", hint, len(fk.SHA256))
			ok = false
		case !decodeHex(digest[:], fk.SHA256):
			bad("sha256 must be %s, got other characters", hint)
			ok = false
		default:
			if j, dup := digests[digest]; dup {
				bad("sha256 is the same as keys[%d]'s; each key must be different", j)
				ok = false
			} else {
				digests[digest] = i
			}
		}

		var roles Roles
		if len(fk.Roles) == 0 {
			bad("roles is empty; grant at least one of lookup, refresh, admin")
			ok = false
		}
		for _, r := range fk.Roles {
			role := Role(r)
			if !role.valid() {
				bad("unknown role %q; use lookup, refresh or admin", r)
				ok = false
				continue
			}
			if !roles.Has(role) {
				roles = append(roles, role)
			}
		}

		if !ok {
			continue
		}
		kr.byName[fk.Name] = len(kr.keys)
		kr.keys = append(kr.keys, entry{key: Key{Name: fk.Name, Roles: roles}, digest: digest})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the API keys file has %d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return kr, nil
}

func decodeHex(dst []byte, s string) bool {
	n, err := hex.Decode(dst, []byte(s))
	return err == nil && n == len(dst)
}

func validName(name string) bool {
	for _, r := range name {
		if r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// Authenticate returns the key whose SHA-256 matches key. Every stored digest
// is compared in constant time, with no early exit, so the time taken says
// nothing about which key (if any) came close.
func (kr *Keyring) Authenticate(key string) (Key, bool) {
	if kr == nil || key == "" {
		return Key{}, false
	}
	digest := sha256.Sum256([]byte(key))
	found := -1
	for i := range kr.keys {
		if subtle.ConstantTimeCompare(kr.keys[i].digest[:], digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Key{}, false
	}
	return kr.keys[found].key.clone(), true
}

// ByName returns the key called name, for protocols (HTTP Basic) where the
// caller names its key; the caller must still Authenticate the secret.
func (kr *Keyring) ByName(name string) (Key, bool) {
	if kr == nil {
		return Key{}, false
	}
	i, ok := kr.byName[name]
	if !ok {
		return Key{}, false
	}
	return kr.keys[i].key.clone(), true
}

// Len returns how many keys the keyring holds.
func (kr *Keyring) Len() int {
	if kr == nil {
		return 0
	}
	return len(kr.keys)
}

// Hash returns the hex SHA-256 of key, the form the keys file stores.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Generate returns a new random key: Prefix followed by 32 random bytes in
// unpadded base64url.
func Generate() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate an API key: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
