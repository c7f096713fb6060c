package tipsim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// DefaultDayQuota is the daily lookup quota when Options.DayQuota is zero.
const DefaultDayQuota = 10000

// logCapacity bounds the request log of a long-running simulator.
const logCapacity = 10000

// Options configure a Sim.
type Options struct {
	// Credentials accept HTTP Basic with their username and password from a
	// client that presented a certificate signed by their CA (TIP's classic
	// mode). Nil means Basic is never accepted. Listen also needs them for
	// its server certificate.
	Credentials *Credentials
	// Token, when set, is accepted as "Authorization: Bearer <token>" without
	// a client certificate (TIP's API-token mode).
	Token string
	// RequireClientCert makes Listen refuse TLS connections without a valid
	// client certificate, as classic-mode TIP does. Leave it off when Token
	// is set, or Bearer clients cannot connect.
	RequireClientCert bool
	// DayQuota is the number of lookups served per UTC day before TIP
	// answers 403; zero means DefaultDayQuota.
	DayQuota int
	// Latency is added to every lookup.
	Latency time.Duration
	// Now is the clock for the day counter; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per lookup; nil discards them.
	Logger *slog.Logger
}

// AuthMode is how a request authenticated, or tried to.
type AuthMode string

// Authentication modes as the request log reports them.
const (
	AuthNone   AuthMode = "none"
	AuthBasic  AuthMode = "basic"
	AuthBearer AuthMode = "bearer"
)

// Request is one lookup request as the simulator received it.
type Request struct {
	Time   time.Time      `json:"time"`
	Method string         `json:"method"`
	Type   indicator.Type `json:"type,omitempty"` // empty when the path named no known type
	Value  string         `json:"value"`          // percent-decoded
	// Sections as sent, in order; nil when the request had no sections
	// parameter (which means all).
	Sections []string `json:"sections"`
	Count    int      `json:"count"` // as sent; 0 when absent
	Auth     AuthMode `json:"auth"`  // what the request presented, valid or not
	// ClientCert is whether the request came with a verified client
	// certificate.
	ClientCert bool `json:"client_cert"`
	// Status is the HTTP status answered; 0 when no answer was sent (a hung
	// request, or a client that gave up).
	Status int `json:"status"`
}

// Sim is the TIP Threat Lookup simulator. All its methods are safe for
// concurrent use.
type Sim struct {
	opts        Options
	catalog     catalog
	logger      *slog.Logger
	now         func() time.Time
	quota       int
	tokenExpiry string // TokenExpirationDate reported in Bearer mode

	requests atomic.Int64
	// inFlight counts lookups being handled now; maxInFlight is the most
	// there were at once since the last Reset, so that tests can check a
	// client's concurrency bound at the only place that sees every request.
	inFlight    atomic.Int64
	maxInFlight atomic.Int64

	mu          sync.Mutex
	log         []Request
	faults      []*activeFault
	day         string // the UTC day dayRequests counts
	dayRequests int
}

type activeFault struct {
	Fault
	left int // answers still to give; unused when Times is 0
}

// New returns a simulator.
func New(opts Options) *Sim {
	s := &Sim{opts: opts, catalog: newCatalog(), logger: opts.Logger, now: opts.Now, quota: opts.DayQuota}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.quota <= 0 {
		s.quota = DefaultDayQuota
	}
	// Tokens are valid for at most a year (tip-api.md §1.4).
	s.tokenExpiry = s.now().UTC().Truncate(24*time.Hour).AddDate(1, 0, 0).Format(layoutSeconds)
	return s
}

// Handler returns the simulator's HTTP handler: the lookup API under /api/.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Requests returns how many lookup requests (anything under /api/) reached
// the handler since the last Reset, whatever their outcome.
func (s *Sim) Requests() int64 { return s.requests.Load() }

// MaxConcurrent returns the most lookup requests (anything under /api/)
// that were being handled at the same time since the last Reset, hung and
// delayed ones included.
func (s *Sim) MaxConcurrent() int64 { return s.maxInFlight.Load() }

// enter counts a lookup in flight and raises the high-water mark; the
// returned func counts it out.
func (s *Sim) enter() (leave func()) {
	n := s.inFlight.Add(1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	return func() { s.inFlight.Add(-1) }
}

// Log returns the most recent requests (up to 10000), oldest first. A
// request is logged when its handling ends.
func (s *Sim) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := max(0, len(s.log)-logCapacity)
	out := make([]Request, len(s.log)-start)
	for i, r := range s.log[start:] {
		r.Sections = slices.Clone(r.Sections)
		out[i] = r
	}
	return out
}

// Reset clears the request counter, the concurrency high-water mark (to
// the requests in flight now), the request log and the day's quota counter.
// Faults stay; ClearFaults removes them.
func (s *Sim) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	s.maxInFlight.Store(s.inFlight.Load())
	s.log = nil
	s.dayRequests = 0
}

func (s *Sim) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) >= 2*logCapacity {
		s.log = append(s.log[:0], s.log[len(s.log)-logCapacity:]...)
	}
	s.log = append(s.log, r)
}

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/api/") {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: lookups are GET /api/{hash|ip|domain|url}/{value}"})
		return
	}
	s.requests.Add(1)
	defer s.enter()()
	start := time.Now()
	l, perr := parseLookup(s.catalog, path, r.URL.RawQuery)
	mode := presentedAuth(r)
	rec := Request{
		Time: s.now().UTC(), Method: r.Method, Type: l.typ, Value: l.value,
		Sections: l.sections, Count: l.count, Auth: mode, ClientCert: s.verifiedClient(r),
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		s.record(rec)
		s.logger.Info("lookup", "method", r.Method, "type", l.typ, "value", clip(l.value, 200),
			"auth", mode, "status", sw.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	}()
	if !s.serve(sw, r, l, perr) {
		// Nobody is waiting for an answer any more (the client gave up or
		// the server is closing): drop the connection rather than let
		// net/http send an empty 200.
		panic(http.ErrAbortHandler)
	}
}

// serve answers one lookup; false means it sent nothing and never will.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request, l lookup, perr *apiError) bool {
	if !sleep(r.Context(), s.opts.Latency) {
		return false
	}
	if f, ok := s.takeFault(l); ok {
		if done, answered := s.applyFault(w, r, f); done {
			return answered
		}
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "lookups are GET requests"})
		return true
	}
	if !s.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="tipsim"`)
		writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "authentication failed: send Basic credentials with a client certificate, or a Bearer token"})
		return true
	}
	if perr != nil {
		writeError(w, perr)
		return true
	}
	dayRequests, ok := s.spend()
	if !ok {
		writeError(w, &apiError{status: http.StatusForbidden, code: "quota_exceeded", message: fmt.Sprintf("the daily quota of %d requests is spent", s.quota)})
		return true
	}
	zone, found := Outcome(l.typ, l.value)
	if !found {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no data about the requested object"})
		return true
	}
	body, err := s.answer(l, zone, dayRequests, presentedAuth(r))
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal_error", message: err.Error()})
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// presentedAuth is the scheme of the request's Authorization header.
func presentedAuth(r *http.Request) AuthMode {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return AuthBasic
	case strings.EqualFold(scheme, "Bearer"):
		return AuthBearer
	}
	return AuthNone
}

func (s *Sim) authenticated(r *http.Request) bool {
	switch presentedAuth(r) {
	case AuthBearer:
		_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		return s.opts.Token != "" && equal(strings.TrimSpace(token), s.opts.Token)
	case AuthBasic:
		user, pass, ok := r.BasicAuth()
		c := s.opts.Credentials
		return ok && c != nil && equal(user, c.Username) && equal(pass, c.Password) && s.verifiedClient(r)
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// verifiedClient reports whether the TLS layer verified a client certificate
// up to the credentials' CA.
func (s *Sim) verifiedClient(r *http.Request) bool {
	c := s.opts.Credentials
	if c == nil || r.TLS == nil {
		return false
	}
	for _, chain := range r.TLS.VerifiedChains {
		if len(chain) > 0 && chain[len(chain)-1].Equal(c.CA) {
			return true
		}
	}
	return false
}

// spend counts a served lookup against the UTC day's quota and returns the
// day's count including it; false means the quota is spent.
func (s *Sim) spend() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if day := s.now().UTC().Format(time.DateOnly); day != s.day {
		s.day, s.dayRequests = day, 0
	}
	if s.dayRequests >= s.quota {
		return s.dayRequests, false
	}
	s.dayRequests++
	return s.dayRequests, true
}

// answer builds the 200 body: the requested sections in catalog order, from
// the fixture where it has them, generated otherwise.
func (s *Sim) answer(l lookup, zone string, dayRequests int, mode AuthMode) ([]byte, error) {
	v := canonical(l.typ, l.value)
	var fx map[string]json.RawMessage
	if f, ok := fixtureFor(l.typ, v); ok {
		var err error
		if fx, err = f.sections(); err != nil {
			return nil, err
		}
	}
	reserved := false
	if a, ok := parseIPv4(v); ok && l.typ == indicator.IP {
		reserved = reservedIP(a)
	}
	var out object
	for _, sec := range s.catalog[l.typ] {
		if !l.wants(sec.name) {
			continue
		}
		switch sec.name {
		case "IpGeneralInfo", "IpWhoIs", sectionZone, sectionLicense:
		default:
			if reserved {
				continue // TIP returns only these four sections for reserved IPs
			}
		}
		switch sec.name {
		case sectionZone:
			out.set(sec.name, zone)
		case sectionLicense:
			out.set(sec.name, s.license(dayRequests, mode))
		default:
			data, ok, err := sectionData(l.typ, v, zone, sec, fx)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if items, isList := data.([]any); isList && !sec.uncounted && len(items) > l.limit() {
				data = items[:l.limit()]
			}
			out.set(sec.name, data)
		}
	}
	return marshal(out)
}

// sectionData returns a section from the fixture, when there is one that has
// it, or generated. Lists come back as []any so they can be cut to count.
func sectionData(t indicator.Type, v, zone string, sec section, fx map[string]json.RawMessage) (any, bool, error) {
	raw, ok := fx[sec.name]
	if !ok {
		data, ok := generate(t, v, zone, sec.name)
		return data, ok, nil
	}
	if !sec.list {
		return raw, true, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false, fmt.Errorf("fixture section %s is not a list: %w", sec.name, err)
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out, true, nil
}

func (s *Sim) license(dayRequests int, mode AuthMode) object {
	var o object
	o.set("AccessType", "Commercial")
	o.set("DayRequests", dayRequests)
	o.set("DayQuota", s.quota)
	if mode == AuthBearer {
		o.set("TokenExpirationDate", s.tokenExpiry)
	} else {
		o.set("TokenExpirationDate", nil)
	}
	return o
}

// marshal encodes like json.Marshal but leaves <, > and & alone, as TIP
// does.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := marshal(map[string]any{"status": e.status, "error": e.code, "message": e.message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// sleep waits for d or until ctx ends; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
