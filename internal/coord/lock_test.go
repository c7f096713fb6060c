package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/redistest"
)

// A key as the lookup service builds it: its own hash tag included.
const testKey = "v2:ab12cd34:{domain:example.com}:DomainGeneralInfo,DomainWhoIsInfo"

// pttlWatch counts a process's PTTL calls and signals each that found the
// lock still held: from then on the waiter is, or is about to be, asleep.
type pttlWatch struct {
	calls atomic.Int64
	held  chan struct{}
}

func newPTTLWatch() *pttlWatch { return &pttlWatch{held: make(chan struct{}, 16)} }

func (w *pttlWatch) after(cmd redis.Cmder) {
	c, ok := cmd.(*redis.DurationCmd)
	if !ok || cmd.Name() != "pttl" {
		return
	}
	w.calls.Add(1)
	if c.Val() > 0 {
		select {
		case w.held <- struct{}{}:
		default:
		}
	}
}

// isScript reports whether cmd ran the script src (by EVALSHA or EVAL).
func isScript(cmd redis.Cmder, src string) bool {
	args := cmd.Args()
	if len(args) < 2 {
		return false
	}
	switch cmd.Name() {
	case "evalsha":
		return args[1] == redis.NewScript(src).Hash()
	case "eval":
		return args[1] == src
	}
	return false
}

func TestAcquireHeldElsewhere(t *testing.T) {
	srv := redistest.New(t)
	a := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	b := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, holder, err := a.Acquire(ctx, testKey, 1000)
	if err != nil || release == nil || holder != 0 {
		t.Fatalf("first Acquire = release %v, holder %d, %v; want the lock", release != nil, holder, err)
	}
	defer release()

	lockKey := "tipgate:ns:lock:" + testKey
	value, err := srv.Client().Get(ctx, lockKey).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", lockKey, err)
	}
	if token, limit, ok := strings.Cut(value, ":"); !ok || len(token) < 16 || limit != "1000" {
		t.Errorf("lock value = %q, want <token>:1000", value)
	}
	if ttl := srv.Client().PTTL(ctx, lockKey).Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Errorf("lock PTTL = %v, want within the 30s LockTTL", ttl)
	}

	for _, p := range []*process{b, a} { // another process, and the holder's own
		rel, holder, err := p.Acquire(ctx, testKey, 5)
		if err != nil || rel != nil {
			t.Fatalf("Acquire of a held lock = release %v, %v; want refused", rel != nil, err)
		}
		if holder != 1000 {
			t.Errorf("holder = %d, want the holding fetch's limit 1000", holder)
		}
	}
}

func TestHolderLimit(t *testing.T) {
	tests := []struct {
		value string
		want  int
	}{
		{"ABCDEF:1000", 1000},
		{"ABCDEF:0", 0},
		{"a:b:25", 25},
		{"ABCDEF", 0},
		{"ABCDEF:x", 0},
		{"", 0},
	}
	for _, tc := range tests {
		if got := holderLimit(tc.value); got != tc.want {
			t.Errorf("holderLimit(%q) = %d, want %d", tc.value, got, tc.want)
		}
	}
}

// The waiter must be woken by the release's message: the lock's TTL (30s)
// outlasts the test's deadline, so no expiry timer can explain the return,
// and the waiter looks at the lock exactly once, so it did not poll.
func TestWaitWokenByRelease(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	watch := newPTTLWatch()
	waiter := newProcess(t, srv, procOptions{after: watch.after})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	if rel, _, err := waiter.Acquire(ctx, testKey, 10); rel != nil || err != nil {
		t.Fatalf("waiter's Acquire = %v, %v; want refused", rel != nil, err)
	}
	done := make(chan error, 1)
	go func() { done <- waiter.Wait(ctx, testKey) }()
	select {
	case <-watch.held:
	case err := <-done:
		t.Fatalf("Wait returned %v while the lock was held", err)
	case <-ctx.Done():
		t.Fatal("Wait never looked at the lock")
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil after the release (well before the 30s TTL)", err)
	}
	if n := watch.calls.Load(); n != 1 {
		t.Errorf("waiter made %d PTTL calls, want 1: it should sleep until woken", n)
	}
	if n := srv.Client().Exists(ctx, "tipgate:ns:lock:"+testKey).Val(); n != 0 {
		t.Error("lock still exists after release")
	}
}

// Many waiters of one key in one process share the subscription; every one
// is woken by the one release.
func TestWaitWakesEveryWaiter(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	watch := newPTTLWatch()
	waiter := newProcess(t, srv, procOptions{after: watch.after})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	const waiters = 10
	done := make(chan error, waiters)
	for range waiters {
		go func() { done <- waiter.Wait(ctx, testKey) }()
	}
	for range waiters {
		select {
		case <-watch.held:
		case <-ctx.Done():
			t.Fatal("waiters never looked at the lock")
		}
	}
	release()
	for range waiters {
		if err := <-done; err != nil {
			t.Fatalf("Wait = %v", err)
		}
	}
	if n := watch.calls.Load(); n != waiters {
		t.Errorf("%d PTTL calls for %d waiters, want one each", n, waiters)
	}
	waiter.waitMu.Lock()
	left := len(waiter.waiters)
	waiter.waitMu.Unlock()
	if left != 0 {
		t.Errorf("%d keys still have registered waiters", left)
	}
}

// A release between a failed Acquire and Wait must not be missed.
func TestWaitAfterRelease(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	waiter := newProcess(t, srv, procOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	if rel, _, _ := waiter.Acquire(ctx, testKey, 10); rel != nil {
		t.Fatal("waiter got a held lock")
	}
	release()
	if err := waiter.Wait(ctx, testKey); err != nil {
		t.Fatalf("Wait after the release = %v, want nil", err)
	}
}

func TestWaitDeadline(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	waiter := newProcess(t, srv, procOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	defer release()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if err := waiter.Wait(short, testKey); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past its deadline = %v, want context.DeadlineExceeded", err)
	}
}

// A holder that dies (its renewal stops without a release) leaves the lock
// to expire; the waiter notices by its expiry timer, with no message, and
// takes over.
func TestHolderDies(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 300 * time.Millisecond})
	watch := newPTTLWatch()
	waiter := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second, after: watch.after})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	// Close stops renewal and does not release: the holder is dead.
	if err := holder.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if rel, _, _ := waiter.Acquire(ctx, testKey, 10); rel != nil {
		t.Fatal("the dead holder's lock was free before it expired")
	}
	if err := waiter.Wait(ctx, testKey); err != nil {
		t.Fatalf("Wait for a dead holder = %v, want nil after expiry", err)
	}
	if watch.calls.Load() < 2 {
		t.Errorf("waiter made %d PTTL calls; it should have looked again at expiry", watch.calls.Load())
	}
	rel, _, err := waiter.Acquire(ctx, testKey, 10)
	if err != nil || rel == nil {
		t.Fatalf("Acquire after expiry = %v, %v; want the lock", rel != nil, err)
	}
	rel()
}

// A holder that lives renews its lock past the lock's TTL.
func TestRenewalKeepsLock(t *testing.T) {
	srv := redistest.New(t)
	renewed := make(chan struct{}, 16)
	holder := newProcess(t, srv, procOptions{
		lockTTL: 1500 * time.Millisecond,
		after: func(cmd redis.Cmder) {
			if c, ok := cmd.(*redis.Cmd); ok && isScript(cmd, renewLua) {
				if n, _ := c.Int64(); n == 1 {
					renewed <- struct{}{}
				}
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	// Four renewals every TTL/3 span more than the TTL.
	for i := range 4 {
		select {
		case <-renewed:
		case <-ctx.Done():
			t.Fatalf("only %d renewals", i)
		}
	}
	lockKey := "tipgate:ns:lock:" + testKey
	if v := srv.Client().Get(ctx, lockKey).Val(); !strings.HasSuffix(v, ":10") {
		t.Fatalf("lock value after renewals = %q, want the holder's", v)
	}
	release()
	if n := srv.Client().Exists(ctx, lockKey).Val(); n != 0 {
		t.Error("lock still exists after release")
	}
}

// Release is idempotent, and a release after the lock expired and another
// holder took it leaves the new holder's lock alone (and stops renewing).
func TestReleaseOnlyOwnLock(t *testing.T) {
	srv := redistest.New(t)
	a := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	b := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	releaseA, _, err := a.Acquire(ctx, testKey, 10)
	if err != nil || releaseA == nil {
		t.Fatalf("Acquire = %v, %v", releaseA != nil, err)
	}
	lockKey := "tipgate:ns:lock:" + testKey
	// As if a's lock expired.
	if err := srv.Client().Del(ctx, lockKey).Err(); err != nil {
		t.Fatal(err)
	}
	releaseB, _, err := b.Acquire(ctx, testKey, 20)
	if err != nil || releaseB == nil {
		t.Fatalf("Acquire after expiry = %v, %v", releaseB != nil, err)
	}
	releaseA()
	releaseA()
	if v := srv.Client().Get(ctx, lockKey).Val(); !strings.HasSuffix(v, ":20") {
		t.Fatalf("after the old holder's release the lock is %q, want b's", v)
	}
	releaseB()
	releaseB()
	if n := srv.Client().Exists(ctx, lockKey).Val(); n != 0 {
		t.Error("lock still exists after its holder's release")
	}
	// A third process takes it now, and the stale releases still do nothing.
	releaseC, _, err := a.Acquire(ctx, testKey, 30)
	if err != nil || releaseC == nil {
		t.Fatalf("Acquire after releases = %v, %v", releaseC != nil, err)
	}
	defer releaseC()
	releaseA()
	releaseB()
	if v := srv.Client().Get(ctx, lockKey).Val(); !strings.HasSuffix(v, ":30") {
		t.Errorf("stale releases changed the lock to %q", v)
	}
}

func TestConcurrentAcquireOneWins(t *testing.T) {
	srv := redistest.New(t)
	procs := []*process{
		newProcess(t, srv, procOptions{lockTTL: 30 * time.Second}),
		newProcess(t, srv, procOptions{lockTTL: 30 * time.Second}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	const callers = 40
	type result struct {
		release func()
		limit   int
		holder  int
		err     error
	}
	results := make([]result, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			rel, holder, err := procs[i%2].Acquire(ctx, testKey, i+1)
			results[i] = result{rel, i + 1, holder, err}
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("Acquire %d: %v", i, r.err)
		}
		if r.release != nil {
			if winner >= 0 {
				t.Fatalf("callers %d and %d both got the lock", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("nobody got the lock")
	}
	defer results[winner].release()
	for i, r := range results {
		if i != winner && r.holder != results[winner].limit {
			t.Errorf("caller %d saw holder limit %d, want the winner's %d", i, r.holder, results[winner].limit)
		}
	}
}

func TestHeldSaysWhetherALockIsTaken(t *testing.T) {
	srv := redistest.New(t)
	a, b := newProcess(t, srv, procOptions{}), newProcess(t, srv, procOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if held, err := b.Held(ctx, testKey); held || err != nil {
		t.Fatalf("Held of a free lock = %v, %v; want false", held, err)
	}
	release, _, err := a.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	if held, err := b.Held(ctx, testKey); !held || err != nil {
		t.Fatalf("Held of a taken lock, from another process = %v, %v; want true", held, err)
	}
	release()
	if held, err := b.Held(ctx, testKey); held || err != nil {
		t.Fatalf("Held after release = %v, %v; want false", held, err)
	}
}
