package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/cache/cachetest"
	"github.com/tipgate/tipgate/internal/redistest"
)

var _ cachetest.Store = (*cache.Redis)(nil)

func openRedis(t testing.TB, rawURL string, opts cache.RedisOptions) *cache.Redis {
	t.Helper()
	r, err := cache.OpenRedis(rawURL, opts)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestRedisSuite(t *testing.T) {
	srv := redistest.New(t)
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		return openRedis(t, srv.URL(), cache.RedisOptions{})
	}, time.Sleep)
}

// counter is a go-redis hook that records what reaches the server.
type counter struct {
	mu    sync.Mutex
	calls []string // one per round trip: a command name, or "pipeline:N"
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.calls = append(c.calls, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		c.calls = append(c.calls, fmt.Sprintf("pipeline:%d", len(cmds)))
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (c *counter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func TestRedisRoundTrips(t *testing.T) {
	srv := redistest.New(t)
	// One connection per pool (go-redis keeps pipelines apart), opened
	// before counting: a new connection's handshake (HELLO, CLIENT SETINFO)
	// is not part of any call.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, PoolSize: 1, PipelinePoolSize: 1})
	hook := &counter{}
	client.AddHook(hook)
	r := cache.NewRedis(client, cache.RedisOptions{})
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, []cache.Item{{Key: "warm-up", Value: []byte("v"), TTL: time.Second}}); err != nil {
		t.Fatal(err)
	}

	keys := make([]string, 10)
	items := make([]cache.Item, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("tipgate:v1:{hash:%032x}:Section%d", 7, i)
		items[i] = cache.Item{Key: keys[i], Value: []byte("v"), TTL: 1500 * time.Millisecond}
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Set of 10 is one pipeline", func() error { return r.Set(ctx, items) }, "pipeline:10"},
		{"Get of 10 is one MGET", func() error { _, err := r.Get(ctx, keys); return err }, "mget"},
		{"Get of 1 is one MGET", func() error { _, err := r.Get(ctx, keys[:1]); return err }, "mget"},
		{"Delete of 10 is one DEL", func() error { return r.Delete(ctx, keys) }, "del"},
		{"Ping is one PING", func() error { return r.Ping(ctx) }, "ping"},
		{"empty Get is no round trip", func() error { _, err := r.Get(ctx, nil); return err }, ""},
		{"empty Set is no round trip", func() error { return r.Set(ctx, nil) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook.take()
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(hook.take(), " "); got != tt.want {
				t.Errorf("round trips: got %q, want %q", got, tt.want)
			}
		})
	}

	// Set writes SET key value PX ms, so sub-second lifetimes survive.
	if err := r.Set(ctx, items[:1]); err != nil {
		t.Fatal(err)
	}
	pttl, err := srv.Client().PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= time.Second || pttl > 1500*time.Millisecond {
		t.Errorf("PTTL after Set with TTL 1.5s: got %v, want in (1s, 1.5s]", pttl)
	}
}

func TestRedisSubMillisecondTTL(t *testing.T) {
	srv := redistest.New(t)
	r := openRedis(t, srv.URL(), cache.RedisOptions{})
	// PX 0 is an error in Redis; the TTL is rounded up instead.
	if err := r.Set(context.Background(), []cache.Item{{Key: "k", Value: []byte("v"), TTL: time.Microsecond}}); err != nil {
		t.Errorf("Set with a 1µs TTL: got %v, want nil", err)
	}
}

// hungServer accepts connections and never answers, like a Redis stuck on a
// slow command or a half-dead network path.
func hungServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func TestRedisHungServerHitsOwnDeadline(t *testing.T) {
	const deadline = 100 * time.Millisecond
	r := openRedis(t, "redis://"+hungServer(t), cache.RedisOptions{ReadTimeout: deadline, WriteTimeout: deadline})
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"get", func(ctx context.Context) error { _, err := r.Get(ctx, []string{"k"}); return err }},
		{"set", func(ctx context.Context) error {
			return r.Set(ctx, []cache.Item{{Key: "k", Value: []byte("v"), TTL: time.Hour}})
		}},
		{"delete", func(ctx context.Context) error { return r.Delete(ctx, []string{"k"}) }},
		{"ping", func(ctx context.Context) error { return r.Ping(ctx) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			// The caller sets no deadline: only the store's own can end the call.
			start := time.Now()
			err := c.call(context.Background())
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("got nil error from a Redis that never answers, want a timeout")
			}
			if want := "cache: redis " + c.name + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q: want it to start with %q", err, want)
			}
			var ne net.Error
			if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("error %q: want a timeout", err)
			}
			// Generous: the point is "bounded by the store's deadline", not a
			// hang until the socket timeout or forever.
			if elapsed > 10*deadline {
				t.Errorf("returned after %v, want about %v", elapsed, deadline)
			}
		})
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	srv := redistest.New(t)
	r := openRedis(t, srv.URL(), cache.RedisOptions{})
	ctx := context.Background()
	key := "tipgate:v1:{ip:1.2.3.4}:IpGeneralInfo"
	item := []cache.Item{{Key: key, Value: []byte("v"), TTL: time.Hour}}
	if err := r.Set(ctx, item); err != nil {
		t.Fatalf("Set before the outage: %v", err)
	}

	srv.Stop()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := r.Get(ctx, []string{key}); return err }},
		{"Set", func() error { return r.Set(ctx, item) }},
		{"Delete", func() error { return r.Delete(ctx, []string{key}) }},
		{"Ping", func() error { return r.Ping(ctx) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		if err == nil {
			t.Errorf("%s during the outage: got nil, want an error", c.name)
		}
		if elapsed := time.Since(start); elapsed > 10*cache.DefaultRedisWriteTimeout {
			t.Errorf("%s during the outage took %v, want an error within its deadline", c.name, elapsed)
		}
	}

	// Enough failures that go-redis stops dialing and fails fast, as it
	// would under real traffic; it then probes Redis about once a second.
	for range 2 * 10 * runtime.GOMAXPROCS(0) {
		if _, err := r.Get(ctx, []string{key}); err == nil {
			t.Fatal("Get during the outage: got nil error")
		}
	}

	srv.Start()
	// Recovery needs no help from the caller, only a moment for the probe.
	recovered := false
	for range 100 {
		if r.Ping(ctx) == nil {
			recovered = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !recovered {
		t.Fatalf("Ping after Redis came back: still failing after 5s: %v", r.Ping(ctx))
	}
	if err := r.Set(ctx, item); err != nil {
		t.Fatalf("Set after Redis came back: %v", err)
	}
	got, err := r.Get(ctx, []string{key})
	if err != nil || string(got[0]) != "v" {
		t.Errorf("Get after Redis came back: got %q, %v; want \"v\", nil", got, err)
	}
}

func TestRedisKeysAreStoredVerbatim(t *testing.T) {
	srv := redistest.New(t)
	r := openRedis(t, srv.URL(), cache.RedisOptions{})
	ctx := context.Background()
	keys := []string{
		"tipgate:v1:{domain:example.com}:DomainGeneralInfo",
		"tipgate:v1:{domain:example.com}:DomainDnsResolutions",
	}
	if err := r.Set(ctx, []cache.Item{
		{Key: keys[0], Value: []byte("a"), TTL: time.Hour},
		{Key: keys[1], Value: []byte("b"), TTL: time.Hour},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.Client().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !(got[0] == keys[0] && got[1] == keys[1] || got[0] == keys[1] && got[1] == keys[0]) {
		t.Errorf("KEYS *: got %q, want exactly %q", got, keys)
	}
}

func TestOpenRedisURLs(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	tests := []struct {
		name    string
		url     string
		wantErr bool
	}{
		{"redis", "redis://127.0.0.1:6379/0", false},
		{"redis with password", "redis://:" + secret + "@127.0.0.1:6379/2", false},
		{"rediss", "rediss://user:" + secret + "@redis.example:6380", false},
		{"unix", "unix://:" + secret + "@/run/redis.sock?db=3", false},
		{"query overrides", "redis://127.0.0.1?pool_size=5&read_timeout=2s", false},
		{"bad scheme", "http://:" + secret + "@127.0.0.1:6379", true},
		{"bad db", "redis://:" + secret + "@127.0.0.1:6379/x", true},
		{"unknown option", "redis://:" + secret + "@127.0.0.1:6379?password=" + secret, true},
		{"does not parse", "redis://:" + secret + "%zz@127.0.0.1:6379", true},
		{"bad port", "redis://u:" + secret + "@127.0.0.1:port", true},
		{"control character", "redis://u:" + secret + "\n@127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := cache.OpenRedis(tt.url, cache.RedisOptions{})
			if r != nil {
				defer r.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("OpenRedis: got error %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestRedisErrorsHidePassword(t *testing.T) {
	// Redis rejects a wrong password; the rejection must not echo it.
	srv := redistest.New(t)
	const secret = "s3cr3t-Pa55"
	if err := srv.Client().ConfigSet(context.Background(), "requirepass", "the-right-one").Err(); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	rawURL := strings.Replace(srv.URL(), "redis://", "redis://:"+secret+"@", 1)
	r := openRedis(t, rawURL, cache.RedisOptions{})
	_, err := r.Get(context.Background(), []string{"k"})
	if err == nil {
		t.Fatal("Get with a password Redis does not expect: got nil, want an AUTH error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q shows the password", err)
	}
}

func BenchmarkRedisGet10(b *testing.B) {
	srv := redistest.New(b)
	r := openRedis(b, srv.URL(), cache.RedisOptions{})
	ctx := context.Background()
	keys := make([]string, 10)
	items := make([]cache.Item, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("tipgate:v1:{domain:example.com}:Section%02d", i)
		items[i] = cache.Item{Key: keys[i], Value: make([]byte, 1<<10), TTL: time.Hour}
	}
	if err := r.Set(ctx, items); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Get(ctx, keys); err != nil {
			b.Fatal(err)
		}
	}
}
