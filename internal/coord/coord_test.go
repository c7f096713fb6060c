package coord

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
)

// dayCounter is upstream.DayCounter, restated so this package's tests check
// the contract without importing its consumer.
type dayCounter interface {
	Take(ctx context.Context, day, key string, limit, keyLimit int) (spent string, err error)
	Count(ctx context.Context, day, key string) (int, error)
}

var _ dayCounter = (*Redis)(nil)

// testTimeout bounds every wait in these tests; nothing is expected to take
// long, it only keeps a broken test from hanging the suite.
const testTimeout = 10 * time.Second

// probe is a go-redis hook that counts a client's I/O (dials and commands)
// and shows each finished command to after, so that tests can assert what
// a coordinator asked Redis, not how long it took.
type probe struct {
	io    atomic.Int64
	after func(redis.Cmder)
}

func (p *probe) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.io.Add(1)
		return next(ctx, network, addr)
	}
}

func (p *probe) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		p.io.Add(1)
		err := next(ctx, cmd)
		if p.after != nil {
			p.after(cmd)
		}
		return err
	}
}

func (p *probe) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.io.Add(1)
		return next(ctx, cmds)
	}
}

// process is one simulated tipgate process: its own client and coordinator.
type process struct {
	*Redis
	client redis.UniversalClient
	probe  *probe
	logs   *logbuf.Buffer
}

type procOptions struct {
	lockTTL time.Duration
	healthy func() bool
	after   func(redis.Cmder)
}

// newProcess opens a client with internal/cache's OpenRedis, as the app
// does (context deadlines honoured, few retries, so that an outage fails
// calls quickly), and a coordinator over it in namespace "ns".
func newProcess(t *testing.T, srv *redistest.Server, o procOptions) *process {
	t.Helper()
	client := openClient(t, srv.URL(), cache.RedisSingle)
	p := &probe{after: o.after}
	client.AddHook(p)
	logs := &logbuf.Buffer{}
	r := NewRedis(client, Options{
		Namespace: "ns",
		LockTTL:   o.lockTTL,
		Healthy:   o.healthy,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	// Outages in these tests are refused connections, which fail at once;
	// a slow call on a loaded machine must not be taken for one.
	r.callTimeout = testTimeout / 2
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &process{Redis: r, client: client, probe: p, logs: logs}
}

// openClient opens the store's client for rawURL in mode with OpenRedis,
// closed at the test's end. Socket timeouts are raised from OpenRedis's
// 1 s so that a slow call on a loaded machine is not taken for an outage.
func openClient(t *testing.T, rawURL string, mode cache.RedisMode) redis.UniversalClient {
	t.Helper()
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	store, err := cache.OpenRedis(rawURL+sep+"read_timeout=5s&write_timeout=5s", cache.RedisOptions{Mode: mode})
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store.Client()
}

// lines counts the log lines at level (e.g. "WARN").
func lines(logs *logbuf.Buffer, level string) int {
	return strings.Count(logs.String(), "level="+level+" ")
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name, ns, key, day, counterKey string
		wantLock, wantChannel          string
		wantTotal, wantKey             string
	}{
		{
			name: "namespaced", ns: "v2:ab12cd34",
			key: "v2:ab12cd34:{domain:example.com}:DomainGeneralInfo,DomainWhoIsInfo", day: "2026-08-01", counterKey: "soc",
			wantLock:    "tipgate:v2:ab12cd34:lock:v2:ab12cd34:{domain:example.com}:DomainGeneralInfo,DomainWhoIsInfo",
			wantChannel: "tipgate:v2:ab12cd34:locks",
			wantTotal:   "tipgate:v2:ab12cd34:budget:{2026-08-01}",
			wantKey:     "tipgate:v2:ab12cd34:budget:{2026-08-01}:key:soc",
		},
		{
			name: "no namespace", key: "{ip:1.2.3.4}:IpGeneralInfo", day: "2026-08-02", counterKey: "k",
			wantLock:    "tipgate:lock:{ip:1.2.3.4}:IpGeneralInfo",
			wantChannel: "tipgate:locks",
			wantTotal:   "tipgate:budget:{2026-08-02}",
			wantKey:     "tipgate:budget:{2026-08-02}:key:k",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRedis(nil, Options{Namespace: tc.ns})
			defer r.Close()
			if got := r.lockKey(tc.key); got != tc.wantLock {
				t.Errorf("lock key = %q, want %q", got, tc.wantLock)
			}
			if r.channel != tc.wantChannel {
				t.Errorf("channel = %q, want %q", r.channel, tc.wantChannel)
			}
			if got := r.budgetKey(tc.day, ""); got != tc.wantTotal {
				t.Errorf("total key = %q, want %q", got, tc.wantTotal)
			}
			if got := r.budgetKey(tc.day, tc.counterKey); got != tc.wantKey {
				t.Errorf("key counter = %q, want %q", got, tc.wantKey)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	r := NewRedis(nil, Options{})
	defer r.Close()
	if r.ttl != DefaultLockTTL {
		t.Errorf("LockTTL = %v, want %v", r.ttl, DefaultLockTTL)
	}
	if r.log == nil {
		t.Error("no logger")
	}
}

func TestClose(t *testing.T) {
	srv := redistest.New(t)
	holder := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	waiter := newProcess(t, srv, procOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	release, _, err := holder.Acquire(ctx, "{k}", 1)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}
	defer release()
	armed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// Subscribe first (by waiting on a free key), so that the Wait
		// below is pending on the subscription when Close comes.
		if err := waiter.Wait(ctx, "{free}"); err != nil {
			done <- err
			return
		}
		close(armed)
		done <- waiter.Wait(ctx, "{k}")
	}()
	select {
	case <-armed:
	case err := <-done:
		t.Fatalf("Wait on a free key = %v", err)
	}
	// Close must end the pending Wait with ErrClosed whether it is already
	// selecting or still looking at the lock.
	if err := waiter.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("pending Wait after Close = %v, want ErrClosed", err)
	}
	if err := waiter.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, _, err := waiter.Acquire(ctx, "{other}", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close = %v, want ErrClosed", err)
	}
	if err := waiter.Wait(ctx, "{other}"); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
	waiter.mu.Lock()
	ps := waiter.pubsub
	waiter.mu.Unlock()
	if ps != nil {
		t.Error("subscription still set after Close")
	}
}
