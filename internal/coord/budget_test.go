package coord

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/redistest"
)

const testDay = "2026-08-01"

func TestTakeGatewayBudgetAcrossProcesses(t *testing.T) {
	srv := redistest.New(t)
	procs := []*process{newProcess(t, srv, procOptions{}), newProcess(t, srv, procOptions{})}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	const callers, budget = 12, 3
	var taken, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			spent, err := procs[i%2].Take(ctx, testDay, "", budget, 0)
			switch {
			case err != nil:
				t.Errorf("Take: %v", err)
			case spent == "":
				taken.Add(1)
			case spent == "gateway":
				refused.Add(1)
			default:
				t.Errorf("Take = %q, want \"\" or \"gateway\"", spent)
			}
		})
	}
	wg.Wait()
	if taken.Load() != budget || refused.Load() != callers-budget {
		t.Errorf("taken %d, refused %d; want %d and %d", taken.Load(), refused.Load(), budget, callers-budget)
	}
	for i, p := range procs {
		if n, err := p.Count(ctx, testDay, ""); err != nil || n != budget {
			t.Errorf("process %d: Count = %d, %v; want %d", i, n, err, budget)
		}
	}
	total := "tipgate:ns:budget:{" + testDay + "}"
	if ttl := srv.Client().PTTL(ctx, total).Val(); ttl < 47*time.Hour || ttl > 48*time.Hour {
		t.Errorf("%s PTTL = %v, want about 48h", total, ttl)
	}
	if lines(procs[0].logs, "WARN")+lines(procs[1].logs, "WARN") != 0 {
		t.Errorf("warnings with Redis up:\n%s%s", procs[0].logs, procs[1].logs)
	}
}

func TestTakeKeyBudget(t *testing.T) {
	type take struct {
		key                 string
		limit, keyLimit     int
		want                string
		wantTotal, wantKeyN int
	}
	tests := []struct {
		name  string
		takes []take
	}{
		{
			name: "key budget holds, other keys and the gateway go on",
			takes: []take{
				{"soc", 0, 2, "", 1, 1},
				{"soc", 0, 2, "", 2, 2},
				{"soc", 0, 2, "key", 2, 2},
				{"ir", 0, 2, "", 3, 1},
				{"", 0, 0, "", 4, 0},
			},
		},
		{
			name: "gateway budget is checked first",
			takes: []take{
				{"soc", 2, 5, "", 1, 1},
				{"ir", 2, 5, "", 2, 1},
				{"soc", 2, 5, "gateway", 2, 1},
				{"soc", 0, 1, "key", 2, 1},
			},
		},
		{
			name: "no limits count",
			takes: []take{
				{"soc", 0, 0, "", 1, 1},
				{"soc", 0, 0, "", 2, 2},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.New(t)
			p := newProcess(t, srv, procOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			for i, tk := range tc.takes {
				spent, err := p.Take(ctx, testDay, tk.key, tk.limit, tk.keyLimit)
				if err != nil || spent != tk.want {
					t.Fatalf("take %d (%+v) = %q, %v; want %q", i, tk, spent, err, tk.want)
				}
				if n, _ := p.Count(ctx, testDay, ""); n != tk.wantTotal {
					t.Errorf("take %d: total = %d, want %d", i, n, tk.wantTotal)
				}
				if tk.key != "" {
					if n, _ := p.Count(ctx, testDay, tk.key); n != tk.wantKeyN {
						t.Errorf("take %d: count of %q = %d, want %d", i, tk.key, n, tk.wantKeyN)
					}
				}
			}
		})
	}
}

// With Redis gone the counter goes on from the last values it read, never
// past a limit by its own count, without errors, and says so once; when
// Redis is back, the requests counted in memory meanwhile are added to it
// (they were made), and its values win again.
func TestTakeRedisDown(t *testing.T) {
	srv := redistest.New(t)
	p := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	for range 2 {
		if spent, err := p.Take(ctx, testDay, "soc", 10, 3); spent != "" || err != nil {
			t.Fatalf("Take = %q, %v", spent, err)
		}
	}
	// Subscribe while Redis is up, so the outage also hits a running
	// subscription.
	if err := p.Wait(ctx, "{free}"); err != nil {
		t.Fatalf("Wait on a free key = %v", err)
	}
	srv.Stop()

	// The key read 2 of 3; the gateway 2 of 10.
	steps := []struct {
		key  string
		want string
	}{
		{"soc", ""},
		{"soc", "key"},
		{"", ""}, {"", ""}, {"", ""}, {"", ""}, {"", ""}, {"", ""}, {"", ""}, // 10 in all
		{"", "gateway"},
		{"ir", "gateway"},
	}
	for i, s := range steps {
		spent, err := p.Take(ctx, testDay, s.key, 10, 3)
		if err != nil || spent != s.want {
			t.Fatalf("step %d: Take(%q) during the outage = %q, %v; want %q", i, s.key, spent, err, s.want)
		}
	}
	if n, err := p.Count(ctx, testDay, ""); n != 10 || err != nil {
		t.Errorf("Count during the outage = %d, %v; want 10", n, err)
	}
	if n, err := p.Count(ctx, testDay, "soc"); n != 3 || err != nil {
		t.Errorf("key Count during the outage = %d, %v; want 3", n, err)
	}
	if n := lines(p.logs, "WARN"); n != 1 {
		t.Errorf("%d WARN lines for one outage, want 1:\n%s", n, p.logs)
	}

	// The locks fail at once rather than wait for a Redis that is gone: an
	// error, before the caller's deadline.
	if rel, _, err := p.Acquire(ctx, testKey, 10); err == nil || rel != nil {
		t.Errorf("Acquire during the outage = %v, %v; want an error", rel != nil, err)
	}
	if err := p.Wait(ctx, testKey); err == nil {
		t.Error("Wait during the outage = nil, want an error")
	}
	fresh := newProcess(t, srv, procOptions{})
	if err := fresh.Wait(ctx, testKey); err == nil {
		t.Error("Wait of a process that never subscribed = nil, want an error")
	}
	if ctx.Err() != nil {
		t.Fatal("the outage held calls until the test's deadline")
	}

	srv.Start() // empty: Redis's count starts again from 0
	// go-redis's pool may go on refusing for a moment after repeated dial
	// failures; Count answers from memory until Redis answers, then says so.
	for lines(p.logs, "INFO") == 0 {
		if ctx.Err() != nil {
			t.Fatalf("Redis never counted again:\n%s", p.logs)
		}
		if _, err := p.Count(ctx, testDay, ""); err != nil {
			t.Fatalf("Count = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if spent, err := p.Take(ctx, testDay, "", 10, 0); spent != "" || err != nil {
		t.Fatalf("Take after Redis returned = %q, %v", spent, err)
	}
	// The 8 requests made during the outage (10 counted, 2 of them read
	// from Redis before it) are owed to the empty Redis, plus this one.
	if n, err := p.Count(ctx, testDay, ""); n != 9 || err != nil {
		t.Errorf("Count after Redis returned = %d, %v; want 9: the outage's 8 and this one", n, err)
	}
	if n := lines(p.logs, "INFO"); n != 1 {
		t.Errorf("%d INFO lines for Redis's return, want 1:\n%s", n, p.logs)
	}
	if n := lines(p.logs, "WARN"); n != 1 {
		t.Errorf("%d WARN lines in all, want 1:\n%s", n, p.logs)
	}
}

// Healthy false: no I/O at all; locks refuse at once, counting is local.
func TestHealthyFalseNoIO(t *testing.T) {
	srv := redistest.New(t)
	var healthy atomic.Bool
	healthy.Store(true)
	p := newProcess(t, srv, procOptions{lockTTL: 30 * time.Second, healthy: healthy.Load})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	if spent, err := p.Take(ctx, testDay, "", 3, 0); spent != "" || err != nil {
		t.Fatalf("Take = %q, %v", spent, err)
	}
	release, _, err := p.Acquire(ctx, testKey, 10)
	if err != nil || release == nil {
		t.Fatalf("Acquire = %v, %v", release != nil, err)
	}

	healthy.Store(false)
	before := p.probe.io.Load()
	if rel, _, err := p.Acquire(ctx, "{other}", 10); !errors.Is(err, ErrUnavailable) || rel != nil {
		t.Errorf("Acquire = %v, %v; want ErrUnavailable", rel != nil, err)
	}
	if err := p.Wait(ctx, testKey); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Wait = %v, want ErrUnavailable", err)
	}
	release() // left to expire
	for i, want := range []string{"", "", "gateway"} {
		if spent, err := p.Take(ctx, testDay, "", 3, 0); spent != want || err != nil {
			t.Errorf("local Take %d = %q, %v; want %q", i, spent, err, want)
		}
	}
	if n, err := p.Count(ctx, testDay, ""); n != 3 || err != nil {
		t.Errorf("local Count = %d, %v; want 3", n, err)
	}
	if n := p.probe.io.Load() - before; n != 0 {
		t.Errorf("%d Redis calls while unhealthy, want 0", n)
	}
	if n := lines(p.logs, "WARN"); n != 1 {
		t.Errorf("%d WARN lines, want 1:\n%s", n, p.logs)
	}
	if n := srv.Client().Exists(ctx, "tipgate:ns:lock:"+testKey).Val(); n != 1 {
		t.Error("a release while unhealthy reached Redis")
	}
}

func TestCanceledContext(t *testing.T) {
	srv := redistest.New(t)
	p := newProcess(t, srv, procOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Take(ctx, testDay, "", 1, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Take = %v, want context.Canceled", err)
	}
	if _, err := p.Count(ctx, testDay, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Count = %v, want context.Canceled", err)
	}
	if _, _, err := p.Acquire(ctx, testKey, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire = %v, want context.Canceled", err)
	}
	if err := p.Wait(ctx, testKey); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	if n := lines(p.logs, "WARN"); n != 0 {
		t.Errorf("a caller's cancel was logged as an outage:\n%s", p.logs)
	}
	if n, _ := srv.Client().Get(context.Background(), "tipgate:ns:budget:{"+testDay+"}").Int(); n != 0 {
		t.Errorf("a canceled Take counted %d", n)
	}
}

// Only the two latest days are remembered.
func TestTallyKeepsTwoDays(t *testing.T) {
	r := NewRedis(nil, Options{Healthy: func() bool { return false }, Logger: slog.New(slog.DiscardHandler)})
	defer r.Close()
	ctx := context.Background()
	for _, day := range []string{"2026-08-01", "2026-08-02", "2026-08-03"} {
		if _, err := r.Take(ctx, day, "k", 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.countMu.Lock()
	_, old := r.counts["2026-08-01"]
	n := len(r.counts)
	r.countMu.Unlock()
	if n != 2 || old {
		t.Errorf("%d days kept (oldest kept: %v), want the 2 latest", n, old)
	}
	if got, _ := r.Count(ctx, "2026-08-03", "k"); got != 1 {
		t.Errorf("Count of the latest day = %d, want 1", got)
	}
}
