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
	Indicator          indicator.Indicator
	Zone               string
	Found              bool
	Limit              int
	Sections           map[string]json.RawMessage
	ReceivedAt         time.Time
	SectionsReceivedAt map[string]time.Time
	Cache              CacheState
	// StaleReason, on a stale answer, is the problem type that would have
	// been returned instead (or StaleCacheOnly).
	StaleReason string
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
