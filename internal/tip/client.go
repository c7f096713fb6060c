// Package tip owns the conversation with the Kaspersky Threat Intelligence
// Portal (TIP) Threat Lookup API: loading the PFX client certificate, the mTLS
// transport with Basic credentials (or a Bearer token), building
// /api/{type}/{value} requests, mapping TIP's answers to errors, and the
// catalog of sections per indicator type. It knows nothing of the cache or of
// tipgate's own callers.
package tip

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"time"
)

// Config says how to reach TIP: a client certificate (Certificate, or PFX
// and PFXPassword) with Username and Password, or a Token alone. Which
// variables go together is internal/config's rule; New only refuses a
// Config that has no way, or two ways, to authenticate.
type Config struct {
	BaseURL  string // e.g. https://tip.kaspersky.com
	Username string // HTTP Basic user, with a certificate
	Password string // HTTP Basic password, with a certificate
	// Certificate is the client certificate as LoadPFX returns it. The
	// gateway passes the one its configuration already decoded, so the PFX
	// is read once; PFX and PFXPassword are for callers holding the file.
	Certificate *tls.Certificate
	PFX         []byte // PKCS#12: client certificate, key and chain
	PFXPassword string
	Token       string        // Bearer token mode: no client certificate
	CAPEM       []byte        // roots to verify TIP's server certificate; nil means system roots
	Timeout     time.Duration // per upstream request; zero means 30s
	UserAgent   string
}

// Result is TIP's answer to one lookup.
type Result struct {
	// Found is false when TIP answered 404 for the object.
	Found bool
	// Sections holds every top-level key TIP sent, as TIP sent it; Zone and
	// LicenseInfo included when present.
	Sections map[string]json.RawMessage
	// License is LicenseInfo parsed, when TIP sent it.
	License *License
	// ReceivedAt is when the answer arrived.
	ReceivedAt time.Time
}

// License is TIP's LicenseInfo section: the daily quota as TIP last reported it.
type License struct {
	AccessType          string     `json:"AccessType,omitempty"`
	DayRequests         int        `json:"DayRequests"`
	DayQuota            int        `json:"DayQuota"`
	TokenExpirationDate *time.Time `json:"TokenExpirationDate,omitempty"`
}

// ErrorKind classifies a failed TIP exchange the way callers must treat it.
type ErrorKind string

// Error kinds, following DESIGN.md "Upstream errors as callers see them".
const (
	KindBadRequest   ErrorKind = "tip-bad-request"  // 400, 414: the caller's input; TIP's reason in Detail
	KindUnauthorized ErrorKind = "tip-unauthorized" // 401: credentials rejected or T&C not accepted
	KindForbidden    ErrorKind = "tip-forbidden"    // 403: no API access or daily quota spent
	KindRateLimited  ErrorKind = "tip-rate-limited" // 429
	KindUnavailable  ErrorKind = "tip-unavailable"  // 5xx, TLS or connection failure, unreadable answer
	KindTimeout      ErrorKind = "tip-timeout"      // no answer within the deadline
	// KindBudgetSpent is never TIP's answer: tipgate's budget layer raises it
	// when the gateway's or the caller's daily budget is spent, or when TIP's
	// own LicenseInfo said DayRequests >= DayQuota today. It is not
	// Transient: asking again before the next UTC midnight gets the same
	// refusal, so retrying it would only spin.
	KindBudgetSpent ErrorKind = "tip-budget-spent"
)

// Error is a failed TIP exchange. Detail is a sentence for a person; it never
// contains credentials.
type Error struct {
	Kind   ErrorKind
	Status int // TIP's HTTP status, 0 when none was received
	Detail string
	Err    error // the underlying cause, if any
	// RetryAfter is how long to wait before asking again: TIP's Retry-After
	// header on a 429, or, on a Refused error, how long tipgate will go on
	// refusing. 0 when nobody said.
	RetryAfter time.Duration
	// Refused is true when tipgate's own layers (circuit breaker open,
	// budget spent) declined to ask TIP: no request was made. TIP did not
	// fail, so callers answer 503 with Retry-After rather than 502, and no
	// layer retries it or counts it as a TIP failure.
	Refused bool
}

func (e *Error) Error() string { return "tip: " + e.Detail }
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying again later may succeed (429, 5xx,
// timeouts, transport failures). Such errors may be retried and may be
// answered with stale data; none of them is ever cached. A Refused error of
// a transient kind (breaker open) may succeed later too, but retrying it
// at once cannot: check Refused before retrying.
func (e *Error) Transient() bool {
	switch e.Kind {
	case KindRateLimited, KindUnavailable, KindTimeout:
		return true
	}
	return false
}

// ErrPFXPassword is returned (wrapped) by New and LoadPFX when the PFX
// password does not open the PFX file.
var ErrPFXPassword = errors.New("the PFX password is wrong")
