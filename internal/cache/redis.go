package cache

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Default per-call deadlines. A lookup reads before it can answer, so a read
// waits only a little; a write happens after the answer is known and may
// wait longer.
const (
	DefaultRedisReadTimeout  = 250 * time.Millisecond
	DefaultRedisWriteTimeout = time.Second
)

// Connection defaults for OpenRedis, used where the URL does not set them.
// They bound one socket operation; the per-call deadlines above are shorter
// still and win.
const (
	redisDialTimeout   = time.Second
	redisSocketTimeout = time.Second
	redisPoolTimeout   = time.Second
	// One retry covers a pooled connection that died with a Redis restart;
	// more would only spend the caller's short deadline.
	redisMaxRetries = 1
	// go-redis dials five times, 100ms apart, by default: during an outage
	// that spends a whole read deadline on every call until its pool gives up
	// dialing. Two quick attempts are enough for a refused connection.
	redisDialAttempts   = 2
	redisDialRetryPause = 20 * time.Millisecond
)

// RedisOptions tunes the Redis store. Zero values mean the defaults.
type RedisOptions struct {
	// ReadTimeout bounds Get and Ping, on top of the caller's context.
	ReadTimeout time.Duration
	// WriteTimeout bounds Set and Delete, on top of the caller's context.
	WriteTimeout time.Duration
}

// Redis is the shared store: every replica of tipgate pointed at the same
// Redis sees the same entries. Each call carries its own short deadline, so
// a Redis that hangs costs a lookup a fraction of a second, not its whole
// budget.
type Redis struct {
	client       redis.UniversalClient
	readTimeout  time.Duration
	writeTimeout time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewRedis wraps client, which the store then owns and closes. The client
// should have ContextTimeoutEnabled set: without it go-redis ignores context
// deadlines on the socket and the per-call deadlines only bound waiting for a
// pooled connection. A cluster client works because the lookup service puts
// all keys of one call under one hash tag.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	r := &Redis{
		client:       client,
		readTimeout:  opts.ReadTimeout,
		writeTimeout: opts.WriteTimeout,
	}
	if r.readTimeout <= 0 {
		r.readTimeout = DefaultRedisReadTimeout
	}
	if r.writeTimeout <= 0 {
		r.writeTimeout = DefaultRedisWriteTimeout
	}
	return r
}

// OpenRedis connects to the Redis at rawURL (redis://, rediss:// or
// unix://, as go-redis's ParseURL reads them; query parameters such as
// pool_size or read_timeout override the defaults here). It does not contact
// Redis: a Redis that is down at start-up is reported by Ping and must not
// stop the gateway, which can answer through TIP meanwhile. Errors show the
// URL with its password hidden.
func OpenRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	// go-redis would return url.Parse's error, which quotes the whole URL,
	// password included; parse first and say what is wrong in our own words.
	if _, err := url.Parse(rawURL); err != nil {
		return nil, fmt.Errorf("cache: redis URL %s is not a valid URL: check its form, and percent-encode special characters in the password", RedactURL(rawURL))
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: redis URL %s: %w", RedactURL(rawURL), err)
	}
	ro.ContextTimeoutEnabled = true
	if ro.DialTimeout == 0 {
		ro.DialTimeout = redisDialTimeout
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = redisSocketTimeout
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = redisSocketTimeout
	}
	if ro.PoolTimeout == 0 {
		ro.PoolTimeout = redisPoolTimeout
	}
	if ro.MaxRetries == 0 {
		ro.MaxRetries = redisMaxRetries
	}
	ro.DialerRetries = redisDialAttempts
	ro.DialerRetryTimeout = redisDialRetryPause
	if ro.ClientName == "" {
		ro.ClientName = "tipgate"
	}
	// Maintenance notifications are a Redis Enterprise/Cloud feature; probing
	// for them costs every new connection a round trip for nothing here.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return NewRedis(redis.NewClient(ro), opts), nil
}

// Name reports the backend for status and metrics.
func (r *Redis) Name() string { return "redis" }

// Get reads every key with one MGET. The keys must share a hash tag when
// Redis is a cluster.
func (r *Redis) Get(ctx context.Context, keys []string) ([][]byte, error) {
	if err := r.usable(ctx, "get"); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.readTimeout)
	defer cancel()
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cache: redis get: %w", err)
	}
	if len(vals) != len(keys) {
		return nil, fmt.Errorf("cache: redis get: MGET answered %d values for %d keys", len(vals), len(keys))
	}
	out := make([][]byte, len(keys))
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			// An empty value is present, not absent: keep it non-nil.
			out[i] = append(make([]byte, 0, len(v)), v...)
		default:
			return nil, fmt.Errorf("cache: redis get: MGET answered a %T for key %q", v, keys[i])
		}
	}
	return out, nil
}

// Set writes every item with SET key value PX ttl, all in one pipeline.
func (r *Redis) Set(ctx context.Context, items []Item) error {
	if err := r.usable(ctx, "set"); err != nil {
		return err
	}
	if err := validateItems(items); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.writeTimeout)
	defer cancel()
	pipe := r.client.Pipeline()
	for _, it := range items {
		pipe.Do(ctx, "set", it.Key, it.Value, "px", ttlMillis(it.TTL))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Delete removes the keys with one DEL.
func (r *Redis) Delete(ctx context.Context, keys []string) error {
	if err := r.usable(ctx, "delete"); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.writeTimeout)
	defer cancel()
	if err := r.client.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("cache: redis delete: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers within the read deadline.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.usable(ctx, "ping"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.readTimeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache: redis ping: %w", err)
	}
	return nil
}

// Close closes the client; later calls return ErrClosed. Closing twice
// returns the first Close's result.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("cache: redis close: %w", err)
		}
	})
	return r.closeErr
}

// usable fails a call that could not succeed before it takes a connection.
func (r *Redis) usable(ctx context.Context, op string) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: redis %s: %w", op, err)
	}
	return nil
}

// ttlMillis rounds up so that a positive TTL below a millisecond does not
// become PX 0, which Redis rejects.
func ttlMillis(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// RedactURL returns rawURL fit for logs and errors. It hides the password
// of the userinfo (all of a userinfo without a colon, since someone may have
// put the password there) and the value of any query parameter whose name
// looks secret, with everything after it. It reads the text rather than
// url.Parse's result, so that a URL which does not parse, or parses other
// than its author meant (an unencoded '?', '#' or '@' in a password), still
// comes out without the secret; when unsure it hides more.
func RedactURL(rawURL string) string {
	prefix, rest := "", rawURL
	if i := strings.Index(rawURL, "://"); i >= 0 {
		prefix, rest = rawURL[:i+3], rawURL[i+3:]
	}
	var hide [][2]int // spans of rest, in order
	// The last '@' ends the userinfo: an unencoded '@' in a password would
	// otherwise leave its tail in view.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		from := 0
		if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
			from = c + 1
		}
		hide = append(hide, [2]int{from, at})
	}
	if v := secretQueryValue(rest); v >= 0 {
		if len(hide) > 0 && v <= hide[0][1] {
			hide[0] = [2]int{min(v, hide[0][0]), len(rest)}
		} else {
			hide = append(hide, [2]int{v, len(rest)})
		}
	}
	if len(hide) == 0 {
		return rawURL
	}
	var b strings.Builder
	b.WriteString(prefix)
	last := 0
	for _, h := range hide {
		b.WriteString(rest[last:h[0]])
		b.WriteString("xxxxx")
		last = h[1]
	}
	b.WriteString(rest[last:])
	return b.String()
}

// secretQueryValue returns where the value of the first query parameter with
// a secret-looking name starts in s, or -1. The value is taken to run to the
// end, since an unencoded '&' or '#' in it would otherwise split it.
func secretQueryValue(s string) int {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return -1
	}
	pos := q + 1
	for part := range strings.SplitSeq(s[q+1:], "&") {
		if name, _, ok := strings.Cut(part, "="); ok && secretName(name) {
			return pos + len(name) + 1
		}
		pos += len(part) + 1
	}
	return -1
}

func secretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"pass", "pwd", "secret", "token", "auth", "key", "cred"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redisLogger carries go-redis's own log lines (dial failures and the like)
// into slog at debug level: the store's callers already log each failed call
// once, at warn, with context.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// RouteRedisLogs sends go-redis's process-wide log output to l instead of
// plain text on stderr. go-redis keeps one logger per process, so only main
// calls this.
func RouteRedisLogs(l *slog.Logger) {
	redis.SetLogger(redisLogger{l})
}

// Client is the store's go-redis client, for the components that coordinate
// replicas over the same Redis (fetch locks, the daily budget). The store
// still owns it and closes it.
func (r *Redis) Client() redis.UniversalClient { return r.client }
