package coord

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lock is three small scripts rather than a lock library: the lock's
// value must carry the holder's limit (so a caller with a larger limit knows
// not to wait for a smaller fetch), a failed take must read that value in the
// same round trip, and release must delete and PUBLISH atomically, so that a
// waiter can never see the lock gone without its wake-up being on the way.

// acquireLua takes the lock (KEYS[1]) with value ARGV[1] for ARGV[2] ms, or
// answers the holder's value: {1} or {0, value}.
const acquireLua = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1}
end
return {0, redis.call('GET', KEYS[1])}
`

// renewLua extends the lock to ARGV[2] ms if it still holds our value
// ARGV[1]; 0 means it is no longer ours.
const renewLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`

// releaseLua deletes the lock if it still holds our value ARGV[1] and
// publishes the caller's key ARGV[3] on the coordinator's channel ARGV[2].
// A lock that expired and was taken by another holder is left alone; its
// own release will wake the waiters.
const releaseLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`

// Acquire tries to take the fetch lock key for a fetch at limit. When this
// process gets it, release is non-nil: it deletes the lock only if still
// ours, wakes the waiters, and stops renewal; it is idempotent and bounded by
// its own deadline. Otherwise holder is the limit the holding fetch asked for
// (0 if the lock's value does not say). key should carry the caller's hash
// tag: the lock key is tipgate:<Namespace>:lock:<key>. The holder must call
// release once its result is stored: until then (or Close) the lock is
// renewed every third of LockTTL.
func (r *Redis) Acquire(ctx context.Context, key string, limit int) (release func(), holder int, err error) {
	if err := r.usable(ctx); err != nil {
		return nil, 0, err
	}
	l := &lease{
		r:       r,
		key:     key,
		lockKey: r.lockKey(key),
		// The token tells our lock from a later holder's after ours expired.
		value: rand.Text() + ":" + strconv.Itoa(limit),
	}
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	res, err := r.acquireScript.Run(cctx, r.client, []string{l.lockKey}, l.value, ttlMillis(r.ttl)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("coord: acquire lock %q: %w", key, err)
	}
	if len(res) == 0 {
		return nil, 0, fmt.Errorf("coord: acquire lock %q: script answered nothing", key)
	}
	if got, _ := res[0].(int64); got != 1 {
		var v string
		if len(res) > 1 {
			v, _ = res[1].(string)
		}
		return nil, holderLimit(v), nil
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		l.releaseNow()
		return nil, 0, ErrClosed
	}
	var renewCtx context.Context
	renewCtx, l.stopRenewal = context.WithCancel(r.ctx)
	r.wg.Add(1)
	r.mu.Unlock()
	go r.renew(renewCtx, l)
	return l.release, 0, nil
}

// holderLimit reads the limit from a lock value "<token>:<limit>".
func holderLimit(value string) int {
	i := strings.LastIndexByte(value, ':')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(value[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// lease is one held lock.
type lease struct {
	r           *Redis
	key         string // the caller's key, published on release
	lockKey     string
	value       string // "<token>:<limit>"
	stopRenewal context.CancelFunc
	once        sync.Once
}

// release is the func Acquire hands out.
func (l *lease) release() {
	l.once.Do(func() {
		l.stopRenewal()
		// While the store is known down, spend no time on it: the lock
		// expires by itself and waiters elsewhere look again at its expiry.
		if !l.r.up() {
			return
		}
		l.releaseNow()
	})
}

// releaseNow runs the release script on its own deadline: the caller's
// context may be done by the time its fetch is stored.
func (l *lease) releaseNow() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	r := l.r
	err := r.releaseScript.Run(ctx, r.client, []string{l.lockKey}, l.value, r.channel, l.key).Err()
	if err != nil {
		// Not a warning: during an outage that would be one line per fetch,
		// and the lock expires by itself.
		r.log.Debug("coord: release of a fetch lock failed; it will expire", "key", l.key, "err", err)
	}
}

// renew keeps l's lock alive every third of its TTL until ctx ends (release
// or Close) or the lock turns out to be someone else's.
func (r *Redis) renew(ctx context.Context, l *lease) {
	defer r.wg.Done()
	every := max(r.ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.up() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		n, err := r.renewScript.Run(cctx, r.client, []string{l.lockKey}, l.value, ttlMillis(r.ttl)).Int64()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Try again at the next tick: one lost renewal leaves two more
			// before the lock expires.
			r.log.Debug("coord: renewing a fetch lock failed", "key", l.key, "err", err)
		case n == 0:
			r.log.Debug("coord: fetch lock expired or was taken by another holder; renewal stops", "key", l.key)
			return
		}
	}
}

// Wait returns nil when the lock key is released or expires (its holder
// died), or ctx.Err(). A release wakes it through the coordinator's pub/sub
// subscription; because pub/sub drops messages across reconnects, it also
// looks again when the lock's remaining TTL has passed. It never polls on a
// fixed interval.
func (r *Redis) Wait(ctx context.Context, key string) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if err := r.subscribe(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("coord: wait for lock %q: subscribe: %w", key, err)
	}
	// Register before looking at the lock: a release between a failed
	// Acquire and this point is then seen as a missing lock, and one after
	// it as a message.
	woken := r.register(key)
	defer r.unregister(key, woken)
	lockKey := r.lockKey(key)
	for {
		if err := r.usable(ctx); err != nil {
			return err
		}
		left, err := r.remaining(ctx, lockKey)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("coord: wait for lock %q: %w", key, err)
		}
		if left == 0 {
			return nil
		}
		timer := time.NewTimer(left + expirySlack)
		select {
		case <-woken:
			timer.Stop()
			return nil
		case <-timer.C:
			// The holder may have renewed: look again.
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-r.ctx.Done():
			timer.Stop()
			return ErrClosed
		}
	}
}

// remaining is the lock's remaining TTL, 0 when it is gone.
func (r *Redis) remaining(ctx context.Context, lockKey string) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	left, err := r.client.PTTL(cctx, lockKey).Result()
	if err != nil {
		return 0, err
	}
	switch {
	case left == -2: // go-redis keeps PTTL's -2 (no key) and -1 (no expiry) as is
		return 0, nil
	case left == -1:
		// Not a lock this package set; give it a TTL's time anyway.
		return r.ttl, nil
	case left <= 0:
		return time.Millisecond, nil
	}
	return left, nil
}

// subscribe starts the process's one subscription to the lock channel, if
// it is not running yet. go-redis's PubSub then reconnects and resubscribes
// by itself.
func (r *Redis) subscribe(ctx context.Context) error {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.mu.Lock()
	running, closed := r.pubsub != nil, r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if running {
		return nil
	}

	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	ps := r.client.Subscribe(cctx, r.channel)
	// Subscribe only sends the command. Wait for Redis to confirm it, so
	// that every release published from now on reaches this process.
	msg, err := ps.ReceiveTimeout(cctx, r.callTimeout)
	if err == nil {
		if _, ok := msg.(*redis.Subscription); !ok {
			err = fmt.Errorf("SUBSCRIBE answered a %T", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return err
	}
	msgs := ps.Channel()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = ps.Close()
		return ErrClosed
	}
	r.pubsub = ps
	r.wg.Add(1)
	r.mu.Unlock()
	go r.dispatch(msgs)
	return nil
}

// dispatch wakes the waiters of each released key until the subscription
// is closed.
func (r *Redis) dispatch(msgs <-chan *redis.Message) {
	defer r.wg.Done()
	for m := range msgs {
		r.wake(m.Payload)
	}
}

func (r *Redis) register(key string) chan struct{} {
	// One slot is enough: a waiter needs to know that a release happened,
	// not how many.
	ch := make(chan struct{}, 1)
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	set := r.waiters[key]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		r.waiters[key] = set
	}
	set[ch] = struct{}{}
	return ch
}

func (r *Redis) unregister(key string, ch chan struct{}) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	set := r.waiters[key]
	delete(set, ch)
	if len(set) == 0 {
		delete(r.waiters, key)
	}
}

func (r *Redis) wake(key string) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	for ch := range r.waiters[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Held reports whether someone holds the fetch lock key now. It is a hint,
// true a moment ago: callers use it to leave a write to a fetch that is
// known to be running, never to decide who fetches.
func (r *Redis) Held(ctx context.Context, key string) (bool, error) {
	if err := r.usable(ctx); err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	n, err := r.client.Exists(cctx, r.lockKey(key)).Result()
	if err != nil {
		return false, fmt.Errorf("coord: lock %q: %w", key, err)
	}
	return n > 0, nil
}
