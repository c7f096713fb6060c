package cache

import (
	"context"
	"errors"
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
	// Mode is how OpenRedis reads its URL; zero means RedisSingle.
	Mode RedisMode
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

// RedisMode is how TIPGATE_REDIS_URL is read: one Redis, a Redis Cluster
// reached through any of its nodes, or a master found through Sentinel.
type RedisMode string

// The Redis modes; the zero RedisMode is RedisSingle.
const (
	RedisSingle   RedisMode = "single"
	RedisCluster  RedisMode = "cluster"
	RedisSentinel RedisMode = "sentinel"
)

// RedisModes lists the modes, for messages and documentation.
func RedisModes() []RedisMode { return []RedisMode{RedisSingle, RedisCluster, RedisSentinel} }

// RedisModeError is a Redis URL that is well formed but does not fit its
// mode (addr= with one Redis, a database other than 0 on a cluster, a
// sentinel URL without master_name=), so that configuration can name the
// mode's variable too.
type RedisModeError struct {
	Mode RedisMode
	Why  string // what to change, never a part of the URL
}

func (e *RedisModeError) Error() string {
	return "does not fit Redis mode " + string(e.Mode) + ": " + e.Why
}

// redisTarget is a parsed Redis URL: exactly one of its options is set,
// the one its mode builds a client from.
type redisTarget struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

// ParseRedisURL is the one rule for TIPGATE_REDIS_URL in mode (the zero
// mode is RedisSingle): a redis://, rediss:// or unix:// URL as go-redis
// reads it (query parameters such as pool_size or read_timeout included);
// in cluster mode go-redis' ParseClusterURL form, further nodes as addr=;
// in sentinel mode a sentinel's address, the master's database as the path,
// further sentinels as addr= and the master's name as master_name=.
// internal/config reports its error against the variable and OpenRedis
// applies it to what it is given. The error reads after the URL's name
// ("… is not a valid URL") and never shows the URL or any part of it that
// could be its password; a URL that does not fit the mode is a
// *RedisModeError.
func ParseRedisURL(rawURL string, mode RedisMode) error {
	_, err := parseRedisURL(rawURL, mode)
	return err
}

func parseRedisURL(rawURL string, mode RedisMode) (redisTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return redisTarget{}, errors.New("is not a valid URL (it is not shown here because it may hold a password); check its form, and percent-encode special characters in the password")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
		return redisTarget{}, errors.New("must start with redis://, rediss:// or unix://")
	}
	q := u.Query()
	var t redisTarget
	switch mode {
	case RedisSingle, "":
		if q.Has("addr") || q.Has("master_name") {
			return t, modeError(mode, "addr= and master_name= name further nodes or sentinels, which only cluster and sentinel modes read")
		}
		t.single, err = redis.ParseURL(rawURL)
	case RedisCluster:
		switch {
		case u.Scheme == "unix":
			return t, modeError(mode, "a cluster is reached over TCP: use redis:// or rediss://")
		case strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0":
			// ParseClusterURL ignores the path; a cluster has database 0 only.
			return t, modeError(mode, "a cluster has only database 0: remove the database from the path")
		case q.Has("master_name"):
			return t, modeError(mode, "master_name= names a Sentinel master, which cluster mode does not read")
		}
		t.cluster, err = redis.ParseClusterURL(rawURL)
	case RedisSentinel:
		switch {
		case u.Scheme == "unix":
			return t, modeError(mode, "sentinels are reached over TCP: use redis:// or rediss://")
		case q.Get("master_name") == "":
			return t, modeError(mode, "sentinel mode needs the master's name as master_name=")
		}
		t.failover, err = redis.ParseFailoverURL(rawURL)
		if err == nil {
			// go-redis gives the URL's user information to the sentinels
			// only; the master usually wants the same credentials, and
			// username= or password= in the query still set its own.
			f := t.failover
			if f.Username == "" && f.Password == "" {
				f.Username, f.Password = f.SentinelUsername, f.SentinelPassword
			}
		}
	default:
		return t, fmt.Errorf("cannot be read in unknown Redis mode %q", mode)
	}
	if err != nil {
		// go-redis quotes the path and query, not the user information, but
		// a password that also appears there must not be shown either; nor
		// a lone user name, which is often the password put in the wrong
		// place.
		msg := err.Error()
		pw, hasPW := u.User.Password()
		if !hasPW {
			pw = u.User.Username()
		}
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "<secret>")
		}
		return redisTarget{}, fmt.Errorf("is not a Redis URL that tipgate can use: %s", msg)
	}
	return t, nil
}

func modeError(mode RedisMode, why string) error {
	if mode == "" {
		mode = RedisSingle
	}
	return &RedisModeError{Mode: mode, Why: why}
}

// connSettings points at the fields OpenRedis sets, which every go-redis
// options type has under the same names.
type connSettings struct {
	contextTimeout            *bool
	dial, read, write, pool   *time.Duration
	maxRetries, dialerRetries *int
	dialerRetryPause          *time.Duration
	clientName                *string
}

// apply fills what the URL left unset with tipgate's defaults.
func (c connSettings) apply() {
	*c.contextTimeout = true
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{{c.dial, redisDialTimeout}, {c.read, redisSocketTimeout}, {c.write, redisSocketTimeout}, {c.pool, redisPoolTimeout}} {
		if *d.field == 0 {
			*d.field = d.def
		}
	}
	if *c.maxRetries == 0 {
		*c.maxRetries = redisMaxRetries
	}
	*c.dialerRetries = redisDialAttempts
	*c.dialerRetryPause = redisDialRetryPause
	if *c.clientName == "" {
		*c.clientName = "tipgate"
	}
}

// OpenRedis connects to the Redis at rawURL, read in opts.Mode (see
// ParseRedisURL; query parameters override the defaults here). It does not
// contact Redis: a Redis that is down at start-up is reported by Ping and
// must not stop the gateway, which can answer through TIP meanwhile.
func OpenRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	t, err := parseRedisURL(rawURL, opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("cache: the Redis URL %w", err)
	}
	// Maintenance notifications are a Redis Enterprise/Cloud feature; probing
	// for them costs every new connection a round trip for nothing here.
	// (go-redis' failover client turns them off itself.)
	noMaint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	var client redis.UniversalClient
	switch {
	case t.cluster != nil:
		o := t.cluster
		connSettings{&o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.MaxRetries, &o.DialerRetries, &o.DialerRetryTimeout, &o.ClientName}.apply()
		o.MaintNotificationsConfig = noMaint
		client = redis.NewClusterClient(o)
	case t.failover != nil:
		o := t.failover
		connSettings{&o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.MaxRetries, &o.DialerRetries, &o.DialerRetryTimeout, &o.ClientName}.apply()
		client = redis.NewFailoverClient(o)
	default:
		o := t.single
		connSettings{&o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.MaxRetries, &o.DialerRetries, &o.DialerRetryTimeout, &o.ClientName}.apply()
		o.MaintNotificationsConfig = noMaint
		client = redis.NewClient(o)
	}
	return NewRedis(client, opts), nil
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
	return mgetValues(keys, vals)
}

func mgetValues(keys []string, vals []any) ([][]byte, error) {
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

// GetTTL is Get, with how long each entry has left, in the same round
// trip (MGET and a PTTL per key, pipelined; on a cluster the keys' shared
// hash tag keeps them on one node): a copy kept in the process (Hot) then
// never outlives the original. ttls[i] is 0 where vals[i] is nil or the
// entry went away between the two reads, and negative for an entry
// without expiry.
func (r *Redis) GetTTL(ctx context.Context, keys []string) (vals [][]byte, ttls []time.Duration, err error) {
	if err := r.usable(ctx, "get"); err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return [][]byte{}, []time.Duration{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.readTimeout)
	defer cancel()
	pipe := r.client.Pipeline()
	mget := pipe.MGet(ctx, keys...)
	pttls := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		pttls[i] = pipe.PTTL(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("cache: redis get: %w", err)
	}
	if vals, err = mgetValues(keys, mget.Val()); err != nil {
		return nil, nil, err
	}
	ttls = make([]time.Duration, len(keys))
	for i, c := range pttls {
		switch d := c.Val(); {
		case vals[i] == nil || d == -2:
		case d == -1:
			ttls[i] = -1
		default:
			ttls[i] = d
		}
	}
	return vals, ttls, nil
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

// Publish sends payload to every subscriber of channel, bounded by the
// write deadline. In a cluster, any node broadcasts it to all of them.
func (r *Redis) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := r.usable(ctx, "publish"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.writeTimeout)
	defer cancel()
	if err := r.client.Publish(ctx, channel, payload).Err(); err != nil {
		return fmt.Errorf("cache: redis publish: %w", err)
	}
	return nil
}

// Subscribe implements Bus with one pub/sub connection of its own, which
// go-redis reconnects and resubscribes after Redis fails or fails over; each
// confirmation of SUBSCRIBE, the first included, calls subscribed. It
// returns at once: SUBSCRIBE is sent from the goroutine, so that a Redis
// down at start-up costs nobody a dial. stop must be called before Close.
func (r *Redis) Subscribe(channel string, deliver func(payload string), subscribed func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	// Without channels go-redis opens nothing yet.
	ps := r.client.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A failure here is retried by the receive loop below, which
		// reconnects with the channel recorded.
		_ = ps.Subscribe(ctx, channel)
		for m := range ps.ChannelWithSubscriptions() {
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					subscribed()
				}
			case *redis.Message:
				deliver(m.Payload)
			}
		}
	}()
	return func() {
		cancel() // ends a dial in flight, which Close would wait for
		_ = ps.Close()
		<-done
	}
}
