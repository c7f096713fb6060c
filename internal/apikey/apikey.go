// Package apikey owns tipgate's client API keys: parsing and validating the
// keys file, recognising a presented key, the roles and daily TIP budget a
// key grants, and carrying the caller's key in a request's context. A key
// is only ever held as the hex SHA-256 of its text, so neither the file nor
// this package's memory can leak a usable key.
package apikey

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	// TIPDailyBudget is the most TIP requests this key's lookups may cause
	// per UTC day, so that one playbook cannot spend the whole quota; 0
	// means no budget of its own (the gateway's still applies).
	TIPDailyBudget int
}

// clone keeps callers from changing the keyring's roles through the slice.
func (k Key) clone() Key {
	k.Roles = slices.Clone(k.Roles)
	return k
}

// ctxKey is unexported so that no other package can overwrite the caller's
// key in a context.
type ctxKey struct{}

// NewContext returns ctx carrying k, the caller a request acts for, so that
// layers far from HTTP (the TIP budget) can tell whose request it is.
func NewContext(ctx context.Context, k Key) context.Context {
	k = k.clone()
	return context.WithValue(ctx, ctxKey{}, &k)
}

// ContextValue lets a context type of a server's own carry k as NewContext
// would, without NewContext's allocations: its Value(key) returns v when
// ok. k is not copied, so it must not change: Identify's keys never do. The
// HTTP layer keeps one such context per request.
func ContextValue(key any, k *Key) (v any, ok bool) {
	if _, ok := key.(ctxKey); ok && k != nil {
		return k, true
	}
	return nil, false
}

// FromContext returns the key NewContext put in ctx; false when there is
// none (authentication off, or a request tipgate makes for itself).
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(*Key)
	if !ok || k == nil {
		return Key{}, false
	}
	return k.clone(), true
}

// Keyring holds the keys of one keys file. It is safe for concurrent use.
// Its keys change only as a whole, by Replace, when the keys file is
// reloaded: the handlers that hold the Keyring keep it, and each call sees
// either the old keys or the new ones, never a mixture.
type Keyring struct {
	set atomic.Pointer[keySet]
}

// keySet is one loaded keys file; it never changes.
type keySet struct {
	keys     []entry // in file order
	byName   map[string]int
	byDigest map[[sha256.Size]byte]int
}

// load returns the keys now; nil for a nil Keyring.
func (kr *Keyring) load() *keySet {
	if kr == nil {
		return nil
	}
	return kr.set.Load()
}

// Replace makes kr hold next's keys, atomically. Requests being
// authenticated finish with the keys they started with; every later one
// uses next's. Replacing with nil keeps kr as it is.
func (kr *Keyring) Replace(next *Keyring) {
	if s := next.load(); s != nil && kr != nil {
		kr.set.Store(s)
	}
}

type entry struct {
	key Key
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
	// TIPDailyBudget is kept raw so that a bad value is reported against
	// its key like every other problem, instead of failing the whole decode
	// with a message that does not say which key.
	TIPDailyBudget json.RawMessage `json:"tip_daily_budget"`
}

// Load parses and validates a keys file:
//
//	{"keys": [{"name": "siem", "sha256": "<hex>", "roles": ["lookup"], "tip_daily_budget": 1000}]}
//
// tip_daily_budget is optional.
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

	ks := &keySet{byName: make(map[string]int, len(f.Keys)), byDigest: make(map[[sha256.Size]byte]int, len(f.Keys))}
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

		budget, err := parseBudget(fk.TIPDailyBudget)
		if err != nil {
			bad("tip_daily_budget %s", err)
			ok = false
		}

		if !ok {
			continue
		}
		ks.byName[fk.Name] = len(ks.keys)
		ks.byDigest[digest] = len(ks.keys)
		ks.keys = append(ks.keys, entry{key: Key{Name: fk.Name, Roles: roles, TIPDailyBudget: budget}})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the API keys file has %d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	kr := &Keyring{}
	kr.set.Store(ks)
	return kr, nil
}

// parseBudget reads tip_daily_budget: absent or null is 0 (no budget of its
// own); otherwise a whole number written plainly (no sign, fraction,
// exponent or quotes), so that what the operator wrote is exactly the
// budget applied.
func parseBudget(raw json.RawMessage) (int, error) {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" {
		return 0, nil
	}
	const want = "must be a whole number of TIP requests per UTC day, 0 or more (0 = no budget of its own)"
	if strings.Trim(v, "0123456789") != "" {
		return 0, fmt.Errorf("%s, got %s", want, truncateValue(v))
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s, got %s, which is too large", want, truncateValue(v))
	}
	return n, nil
}

// truncateValue keeps an error about a bad value short whatever was pasted.
func truncateValue(v string) string {
	if r := []rune(v); len(r) > 32 {
		return string(r[:32]) + "…"
	}
	return v
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

// Authenticate returns the key whose SHA-256 matches key.
func (kr *Keyring) Authenticate(key string) (Key, bool) {
	k, ok := kr.Identify(key)
	if !ok {
		return Key{}, false
	}
	return k.clone(), true
}

// Identify is Authenticate without the copy, for every request's hot path:
// the Key is the keyring's own, shared by every caller that presents the
// same key, and must not be changed. It stays valid after a Replace.
//
// The digests are looked up in a map, whose timing may depend on the
// presented key's SHA-256 but not on its text: a caller who learnt how
// close its digest came to a stored one would still need a preimage.
func (kr *Keyring) Identify(key string) (*Key, bool) {
	ks := kr.load()
	if ks == nil || key == "" {
		return nil, false
	}
	i, ok := ks.byDigest[digestOf(key)]
	if !ok {
		return nil, false
	}
	return &ks.keys[i].key, true
}

// digestOf is the SHA-256 of key. Go converts a string of more than 32
// bytes to a []byte on the heap, and keys are longer (Generate's are 46),
// so key is copied into a buffer on the stack instead.
func digestOf(key string) [sha256.Size]byte {
	var buf [256]byte
	if len(key) > len(buf) {
		return sha256.Sum256([]byte(key))
	}
	return sha256.Sum256(append(buf[:0], key...))
}

// ByName returns the key called name, for protocols (HTTP Basic) where the
// caller names its key; the caller must still Authenticate the secret.
func (kr *Keyring) ByName(name string) (Key, bool) {
	ks := kr.load()
	if ks == nil {
		return Key{}, false
	}
	i, ok := ks.byName[name]
	if !ok {
		return Key{}, false
	}
	return ks.keys[i].key.clone(), true
}

// Len returns how many keys the keyring holds.
func (kr *Keyring) Len() int {
	ks := kr.load()
	if ks == nil {
		return 0
	}
	return len(ks.keys)
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

// Names returns the keys' names in file order, for reports that list every
// key (per-key budgets in /v1/status), including keys not used yet.
func (kr *Keyring) Names() []string {
	ks := kr.load()
	if ks == nil {
		return nil
	}
	names := make([]string, len(ks.keys))
	for i, e := range ks.keys {
		names[i] = e.key.Name
	}
	return names
}

// FileEntry is one key of a keys file as a writer of the file knows it:
// the key itself, which MarshalFile replaces by its hash.
type FileEntry struct {
	Name  string
	Key   string
	Roles []string
	// TIPDailyBudget is tip_daily_budget; 0 leaves it out.
	TIPDailyBudget int
}

// MarshalFile writes the keys file Load reads, holding entries: the one
// place besides Load that knows the file's shape (the demo writes one, and
// so do the tests that start a gateway).
func MarshalFile(entries []FileEntry) []byte {
	type key struct {
		Name           string   `json:"name"`
		SHA256         string   `json:"sha256"`
		Roles          []string `json:"roles"`
		TIPDailyBudget int      `json:"tip_daily_budget,omitempty"`
	}
	f := struct {
		Keys []key `json:"keys"`
	}{Keys: make([]key, 0, len(entries))}
	for _, e := range entries {
		f.Keys = append(f.Keys, key{Name: e.Name, SHA256: Hash(e.Key), Roles: e.Roles, TIPDailyBudget: e.TIPDailyBudget})
	}
	b, _ := json.Marshal(f) // strings, string slices and ints only: cannot fail
	return b
}
