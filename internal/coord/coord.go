// Package coord owns coordination across the tipgate replicas that share one
// Redis: fetch locks whose waiters are woken by pub/sub, so that identical
// concurrent misses cost one TIP request across every process, and the daily
// TIP request counter that enforces the gateway's and each API key's budget.
//
// Redis is only a coordinator here, never a dependency to answer: when it is
// unreachable (or the store's health check says so) the locks report an
// error at once, so callers fetch without cross-replica coalescing, and the
// counter goes on in memory from the last value it read.
package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLockTTL is how long a fetch lock outlives a holder that died
// without releasing it. The holder renews it every third of that while its
// fetch runs, so the TTL need only cover a few missed renewals, not a fetch.
const DefaultLockTTL = 5 * time.Second

const (
	// defaultCallTimeout bounds one lock or counter call, on top of the
	// caller's context: these calls sit in front of a TIP request, and a
	// hung Redis must cost that request little before the store's health
	// check notices.
	defaultCallTimeout = 250 * time.Millisecond
	// releaseTimeout bounds a release, which runs after the caller's fetch
	// and on its own context (the caller's may be done by then).
	releaseTimeout = time.Second
	// closeTimeout bounds how long Close waits for its goroutines.
	closeTimeout = 2 * time.Second
	// expirySlack lets Redis expire a lock before a waiter looks again at
	// the end of its TTL, so that one look is usually enough.
	expirySlack = 5 * time.Millisecond
	// counterTTL keeps a day's counters through that day in every time zone
	// and a little after, then lets Redis forget them.
	counterTTL = 48 * time.Hour
)

// ErrUnavailable is returned by Acquire and Wait, without any I/O, while
// Options.Healthy reports the store down: the caller fetches without
// cross-replica coordination.
var ErrUnavailable = errors.New("coord: redis is unavailable")

// ErrClosed is returned by calls after Close, and by a Wait that Close ended.
var ErrClosed = errors.New("coord: closed")

// Options configures a Redis coordinator. Zero values mean the defaults.
type Options struct {
	// Namespace separates deployments sharing one Redis: keys are
	// tipgate:<Namespace>:lock:<key> and tipgate:<Namespace>:budget:{<day>}.
	Namespace string
	// LockTTL is the fetch lock's expiry (default DefaultLockTTL).
	LockTTL time.Duration
	// Healthy, when set, is asked before any I/O; false means Redis is known
	// to be unreachable, so calls do not spend time finding that out again.
	Healthy func() bool
	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
}

// Redis coordinates the replicas sharing the Redis behind its client. One
// value serves the whole process: it holds the one pub/sub subscription that
// wakes every waiter in the process.
type Redis struct {
	client  redis.UniversalClient
	ttl     time.Duration
	healthy func() bool
	// callTimeout is defaultCallTimeout; tests on a loaded machine raise it
	// so that a slow call is not taken for an outage.
	callTimeout time.Duration
	log         *slog.Logger

	lockPrefix   string // tipgate:<ns>:lock:
	channel      string // tipgate:<ns>:locks
	budgetPrefix string // tipgate:<ns>:budget:

	acquireScript *redis.Script
	renewScript   *redis.Script
	releaseScript *redis.Script
	takeScript    *redis.Script

	// ctx is cancelled by Close; lock renewals and the dispatcher run on it.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards closed and pubsub, and every wg.Add, so that Close's Wait
	// never races an Add.
	mu     sync.Mutex
	closed bool
	pubsub *redis.PubSub
	wg     sync.WaitGroup

	// subMu lets one Wait at a time subscribe, without holding mu over I/O.
	subMu sync.Mutex

	waitMu  sync.Mutex
	waiters map[string]map[chan struct{}]struct{}

	countMu  sync.Mutex
	counts   map[string]map[string]*tally // day -> key ("" = gateway) -> tally
	degraded bool                         // counting in memory

	closeOnce sync.Once
	closeErr  error
}

// NewRedis returns a coordinator over client, which stays the caller's to
// close (it is usually the store's own client). The client should have
// ContextTimeoutEnabled set, as internal/cache's OpenRedis does: without it
// go-redis ignores context deadlines on the socket and a hung Redis holds
// each call for the client's socket timeout instead of a quarter second. NewRedis
// does no I/O.
func NewRedis(client redis.UniversalClient, o Options) *Redis {
	ctx, cancel := context.WithCancel(context.Background())
	prefix := "tipgate:"
	if o.Namespace != "" {
		prefix += o.Namespace + ":"
	}
	r := &Redis{
		client:        client,
		ttl:           o.LockTTL,
		callTimeout:   defaultCallTimeout,
		healthy:       o.Healthy,
		log:           o.Logger,
		lockPrefix:    prefix + "lock:",
		channel:       prefix + "locks",
		budgetPrefix:  prefix + "budget:",
		acquireScript: redis.NewScript(acquireLua),
		renewScript:   redis.NewScript(renewLua),
		releaseScript: redis.NewScript(releaseLua),
		takeScript:    redis.NewScript(takeLua),
		ctx:           ctx,
		cancel:        cancel,
		waiters:       map[string]map[chan struct{}]struct{}{},
		counts:        map[string]map[string]*tally{},
	}
	if r.ttl <= 0 {
		r.ttl = DefaultLockTTL
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Close stops the pub/sub subscription and every lock renewal, and ends
// pending Waits with ErrClosed. Locks still held are left to expire: Close
// comes after the server drained its fetches, and deleting a lock under a
// fetch that is still running would let another replica pay for it again.
// It does not close the client. Closing twice returns the first result.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		ps := r.pubsub
		r.pubsub = nil
		r.mu.Unlock()

		r.cancel()
		if ps != nil {
			if err := ps.Close(); err != nil {
				r.closeErr = fmt.Errorf("coord: close subscription: %w", err)
			}
		}
		done := make(chan struct{})
		go func() {
			r.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(closeTimeout):
			r.closeErr = errors.Join(r.closeErr, fmt.Errorf("coord: close: goroutines still running after %v", closeTimeout))
		}
	})
	return r.closeErr
}

// isClosed reports whether Close has been called.
func (r *Redis) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// up reports whether Redis is worth asking.
func (r *Redis) up() bool {
	return r.healthy == nil || r.healthy()
}

// usable fails a lock call that could not succeed, before any I/O.
func (r *Redis) usable(ctx context.Context) error {
	if r.isClosed() {
		return ErrClosed
	}
	if !r.up() {
		return ErrUnavailable
	}
	return ctx.Err()
}

func (r *Redis) lockKey(key string) string { return r.lockPrefix + key }

// budgetKey is the counter of day for key ("" = the gateway's total). Both
// of a day's counters share the hash tag {<day>}, so one script can update
// them together on a Redis Cluster.
func (r *Redis) budgetKey(day, key string) string {
	k := r.budgetPrefix + "{" + day + "}"
	if key != "" {
		k += ":key:" + key
	}
	return k
}

// ttlMillis rounds up, so that a positive TTL below a millisecond does not
// become PX 0, which Redis rejects.
func ttlMillis(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}
