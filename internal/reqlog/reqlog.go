// Package reqlog owns what tipgate's logs say about its callers: the fields
// of the one access line each request gets (an Entry in the request's
// context, filled in by whichever handler learns them and read by the
// access-log middleware once the handler returns), the client address
// behind trusted reverse proxies, the short hash that stands for an
// indicator in the access log (URLs can carry tokens, so the value itself
// is never there), and the audit line of every refresh, purge and reload,
// which does carry the indicator because the audit trail needs it.
//
// No line it writes holds an API key, a TIP credential or a Redis URL: an
// Entry has no field for them.
package reqlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Entry is what the access line says about one request beyond method,
// route, status and timing. Fields are set by the request's own goroutine
// (handlers and middleware run in it, in turn), so Entry needs no lock.
type Entry struct {
	RequestID string
	// Client is the caller's address (see ClientAddr).
	Client string
	// Key is the API key's name, never the key.
	Key string
	// IndicatorType is a single lookup's normalised indicator's type;
	// indicator holds its value, for an audit line and IndicatorHash, and
	// is never written to the access line.
	IndicatorType string
	indicator     string
	hasIndicator  bool
	// Cache is the lookup's cache state (hit, miss, ...).
	Cache string
	// Indicators is how many objects a batch or KUMA request carried.
	Indicators int
	// Problem is the problem type the request was answered with, if any.
	Problem string
	// Action, when set, makes the access middleware write an audit line
	// for the request as well: "refresh" or "purge".
	Action string
}

// SetIndicator records a lookup's normalised indicator: its type and hash
// for the access line, its value for an audit line.
func (e *Entry) SetIndicator(typ, value string) {
	e.IndicatorType, e.indicator, e.hasIndicator = typ, value, true
}

// Indicator is the value SetIndicator recorded.
func (e *Entry) Indicator() string { return e.indicator }

// IndicatorHash is Hash of the value SetIndicator recorded, "" when none
// was. It is computed when asked for rather than by SetIndicator: every
// lookup sets its indicator, and only an access line at Info reads it.
func (e *Entry) IndicatorHash() string {
	if !e.hasIndicator {
		return ""
	}
	return Hash(e.indicator)
}

type entryKey struct{}

// NewContext returns ctx carrying e.
func NewContext(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, entryKey{}, e)
}

// ContextValue lets a context type of a server's own carry e as NewContext
// would, without the allocation of a context.WithValue: its Value(key)
// returns v when ok. The HTTP layer keeps one such context per request.
func ContextValue(key any, e *Entry) (v any, ok bool) {
	if _, ok := key.(entryKey); ok {
		return e, true
	}
	return nil, false
}

// FromContext returns the Entry of ctx's request, or a fresh one nobody
// reads when there is none (a handler tested on its own), so callers never
// need to check.
func FromContext(ctx context.Context) *Entry {
	if e, ok := ctx.Value(entryKey{}).(*Entry); ok {
		return e
	}
	return &Entry{}
}

// hashHexLen is how much of the SHA-256 the access line keeps: 48 bits tell
// apart the indicators one log holds, and are too few to be a fingerprint
// worth keeping secret.
const hashHexLen = 12

// Hash is the short hash of a normalised indicator that the access line
// shows instead of the value: the first 12 hex digits of its SHA-256. The
// same indicator always hashes the same, so lines can be grouped by it, and
// an operator holding a suspect value can compute it.
func Hash(value string) string {
	sum := sha256.Sum256([]byte(value))
	var h [hashHexLen]byte
	hex.Encode(h[:], sum[:hashHexLen/2])
	return string(h[:])
}

// ClientAddr is the address of the caller of r: the connection's peer,
// unless that peer is one of the trusted proxies, in which case
// X-Forwarded-For is read from the right (each proxy appends the address it
// saw) and the first address not itself trusted is the client. Entries a
// caller could have forged lie further left than that and are never read.
// When every hop is trusted the leftmost is the client; an entry that is
// not an address stops the walk at the last trusted hop.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, text := addrOf(r.RemoteAddr)
	if !peer.IsValid() {
		return ""
	}
	if !isTrusted(peer, trusted) {
		return addrString(peer, text)
	}
	hops := forwardedFor(r.Header)
	client, text := peer, text
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client, text = a.Unmap(), hops[i]
		if !isTrusted(client, trusted) {
			break
		}
	}
	return addrString(client, text)
}

// addrOf reads a "host:port" or bare address, IPv4-mapped addresses
// unmapped; text is the address as written.
func addrOf(hostport string) (a netip.Addr, text string) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	text = strings.Trim(host, "[]")
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, ""
	}
	return a.Unmap(), text
}

// addrString is a.String(), which every request's access line needs: text
// itself when it already spells a that way (RemoteAddr nearly always does),
// so that no string is built.
func addrString(a netip.Addr, text string) string {
	var buf [64]byte
	if string(a.AppendTo(buf[:0])) == text {
		return text
	}
	return a.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists X-Forwarded-For's entries, every header line in order.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

// Event is one audited action: who (Key and Client), what (Action, and the
// Indicator it concerned), how it ended (Outcome: "ok", or why not). The
// log line's own time says when.
type Event struct {
	Action  string // refresh, purge, reload
	Outcome string // ok, or the problem type or error that stopped it
	Key     string // the API key's name; empty when none was accepted
	Client  string // the caller's address; empty for a signal or a file change
	// Trigger is what caused an action no caller asked for: "signal",
	// "file".
	Trigger   string
	RequestID string
	// Indicator and IndicatorType are the normalised indicator acted on,
	// or the caller's input when it did not parse.
	Indicator     string
	IndicatorType string
	Status        int    // the HTTP status answered, 0 when none
	Detail        string // a few words more, e.g. what a reload reloaded
}

// Audit writes e as one INFO line with the message "audit" and the field
// audit=true, which a log pipeline can route to the audit trail. It is
// written whatever level l's handler is set to: the audit trail does not
// depend on how chatty the operator wants the rest of the log.
func Audit(ctx context.Context, l *slog.Logger, e Event) {
	attrs := []slog.Attr{slog.Bool("audit", true), slog.String("action", e.Action), slog.String("outcome", e.Outcome)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("key", e.Key)
	add("client", e.Client)
	add("trigger", e.Trigger)
	add("request_id", e.RequestID)
	add("indicator", e.Indicator)
	add("indicator_type", e.IndicatorType)
	if e.Status != 0 {
		attrs = append(attrs, slog.Int("status", e.Status))
	}
	add("detail", e.Detail)
	slog.New(alwaysInfo{l.Handler()}).LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// alwaysInfo passes INFO lines and above to its handler whatever level the
// handler would accept: the handler's Handle writes what it is given.
type alwaysInfo struct{ slog.Handler }

func (h alwaysInfo) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h alwaysInfo) WithAttrs(as []slog.Attr) slog.Handler {
	return alwaysInfo{h.Handler.WithAttrs(as)}
}
func (h alwaysInfo) WithGroup(name string) slog.Handler { return alwaysInfo{h.Handler.WithGroup(name)} }
