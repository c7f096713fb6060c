package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// LogValue is the configuration as it is safe to log at start-up: no secret,
// no file contents, and the Redis URL reduced to where it points. Durations
// are strings because slog's JSON handler would print nanoseconds.
func (c *Config) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	var attrs []slog.Attr
	for _, v := range variables() {
		if v.summary != nil {
			attrs = append(attrs, v.summary(c)...)
		}
	}
	return slog.GroupValue(attrs...)
}

// redactRedisURL keeps the scheme, host and path (the database) and drops
// the rest. It is tipgate's one redactor of the Redis URL: nothing else
// prints it (cache.ParseRedisURL's errors do not quote it). Any user information becomes <secret>, the user name included:
// "redis://hunter2@host" is a common way to get the password into the wrong
// place.
func redactRedisURL(s Secret) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s.Reveal())
	if err != nil {
		return redacted
	}
	out := u.Scheme + "://"
	if u.User != nil {
		out += redacted + "@"
	}
	return out + u.Host + u.EscapedPath()
}

// listOrNone writes a list as the variable that sets it takes it, so an
// operator can copy it from the log and edit it.
func listOrNone[T any](list []T) string {
	if len(list) == 0 {
		return none
	}
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}
