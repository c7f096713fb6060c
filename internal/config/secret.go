package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// redacted is what a non-empty Secret prints as, wherever it is printed.
const redacted = "<secret>"

// Secret is a configuration value that must never be shown: a password, a
// token, or a Redis URL (which may carry a password). Every way Go prints or
// encodes a value (fmt verbs, %#v, JSON, text, slog) renders "<secret>", or ""
// when the value is empty, so a Config can be logged or dumped whole without
// leaking it. Reveal is the one way to get the value, which makes every use
// of the plain text easy to find.
type Secret string

// Reveal returns the secret's value. Call it only where the value is used,
// never to print it.
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString makes %#v print a quoted "<secret>" rather than the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format covers every fmt verb. Without it a wrong verb (%d, say) would make
// fmt print the underlying string in its "%!d(config.Secret=…)" complaint.
func (s Secret) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// MarshalJSON encodes the secret as "<secret>" (or "").
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText encodes the secret as <secret> (or nothing).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue makes slog print "<secret>" (or "").
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
