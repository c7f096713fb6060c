package lookup

import (
	"encoding/json"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Mode says how a lookup may use the cache and TIP.
type Mode int

const (
	// Normal answers from the cache and fetches only what it lacks.
	Normal Mode = iota
	// Refresh fetches every requested section from TIP whatever the cache holds.
	Refresh
	// CacheOnly never calls TIP; anything not cached is ErrNotCached.
	CacheOnly
)

// CacheState is the "cache" word of a response.
type CacheState string

// The cache states of DESIGN.md.
const (
	CacheHit       CacheState = "hit"
	CacheMiss      CacheState = "miss"
	CachePartial   CacheState = "partial"
	CacheRefreshed CacheState = "refreshed"
	CacheStale     CacheState = "stale"
	CacheLocal     CacheState = "local"
)

// Query is a caller's lookup as it arrived, before validation.
type Query struct {
	Indicator string
	Type      string   // "" detects
	Sections  []string // any case; empty means the type's default sections
	Limit     int      // 0 means the configured default
	Mode      Mode
}

// Request is a validated lookup: a normalised indicator, canonical section
// names (never Zone or LicenseInfo) and a limit within bounds.
type Request struct {
	Indicator indicator.Indicator
	Sections  []string
	Limit     int
	Mode      Mode
}

// Result is a lookup's answer.
type Result struct {
	Indicator indicator.Indicator
	Zone      string
	Found     bool
	Limit     int
	// Sections are those TIP has data for, in the order the request named
	// them (the catalog's).
	Sections   []Section
	ReceivedAt time.Time // the oldest of the sections'
	Cache      CacheState
	// StaleReason, on a stale answer, is the problem type that would have
	// been returned instead (or StaleCacheOnly).
	StaleReason string

	// inline holds the sections of most answers, so that a hit allocates
	// its Result and its sections at once.
	inline [4]Section
}

// Section returns the data of the named section, and whether the result
// has it.
func (r *Result) Section(name string) (json.RawMessage, bool) {
	for i := range r.Sections {
		if r.Sections[i].Name == name {
			return r.Sections[i].JSON(), true
		}
	}
	return nil, false
}

// Section is one section of a result: compact JSON, already cut to the
// request's limit, with the time TIP sent it.
type Section struct {
	Name       string
	ReceivedAt time.Time
	data       []byte // compact JSON; read-only (it may alias the store's value)
	cut        int    // > 0: the section is data[:cut] closed by "]"
}

// NewSection is a section holding data, which must be compact JSON (as
// json.Compact writes it) and is not copied.
func NewSection(name string, data json.RawMessage, received time.Time) Section {
	return Section{Name: name, ReceivedAt: received, data: data}
}

// JSON is the section's data. It is a copy only when a list was cut.
func (s Section) JSON() json.RawMessage {
	if s.cut == 0 {
		return s.data
	}
	return s.AppendJSON(make([]byte, 0, s.cut+1))
}

// AppendJSON appends the section's compact JSON to dst: what an answer is
// made of, copied from the stored bytes without parsing them.
func (s Section) AppendJSON(dst []byte) []byte {
	if s.cut == 0 {
		return append(dst, s.data...)
	}
	return append(append(dst, s.data[:s.cut]...), ']')
}

// Len is the length of the section's JSON.
func (s Section) Len() int {
	if s.cut == 0 {
		return len(s.data)
	}
	return s.cut + 1
}

// InvalidParam names one bad input parameter and why it is bad.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// InvalidError is a request that must be answered 400 and never reach TIP.
type InvalidError struct {
	Params []InvalidParam
}

func (e *InvalidError) Error() string {
	if len(e.Params) == 0 {
		return "invalid request"
	}
	return e.Params[0].Name + ": " + e.Params[0].Reason
}

// Limits on records per list section (TIP's count).
const (
	MinLimit = 1
	MaxLimit = 1000
)
