package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func ownedConfig() config {
	return config{lookPath: exec.LookPath, fallbackAddr: "127.0.0.1:1"}
}

func mustPing(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: got %v, want PONG", err)
	}
}

func TestNewStartsAnIsolatedServer(t *testing.T) {
	a, b := New(t), New(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s, want separate ports", a.Addr())
	}
	mustPing(t, a.Client())
	ctx := context.Background()
	if err := a.Client().Set(ctx, "k", "from a", 0).Err(); err != nil {
		t.Fatalf("SET on a: %v", err)
	}
	if n, err := b.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS k on b: got %d, %v; want 0, nil", n, err)
	}
	opts, err := redis.ParseURL(a.URL())
	if err != nil {
		t.Fatalf("URL() = %q does not parse: %v", a.URL(), err)
	}
	if opts.Addr != a.Addr() {
		t.Errorf("URL() address: got %q, want %q", opts.Addr, a.Addr())
	}
	// The server runs without persistence, so a test leaves no files.
	for _, param := range []string{"save", "appendonly"} {
		got, err := a.Client().ConfigGet(ctx, param).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", param, err)
		}
		if want := map[string]string{"save": "", "appendonly": "no"}[param]; got[param] != want {
			t.Errorf("CONFIG GET %s: got %q, want %q", param, got[param], want)
		}
	}
}

func TestStopStart(t *testing.T) {
	s := New(t)
	ctx := context.Background()
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Stop()
	if err := ping(s.Addr(), 200*time.Millisecond); err == nil {
		t.Fatalf("PING after Stop: got PONG, want an error")
	}
	s.Stop() // stopping twice is harmless
	s.Start()
	if err := ping(s.Addr(), 200*time.Millisecond); err != nil {
		t.Fatalf("PING after Start: got %v, want PONG", err)
	}
	if n, err := s.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS k after restart: got %d, %v; want 0 (a restart loses data), nil", n, err)
	}
	s.Start() // starting a running server does nothing
	mustPing(t, s.Client())
}

// fakeTB records what the code under test asks of its testing.TB and runs
// cleanups on demand, so that failing and skipping can be observed.
type fakeTB struct {
	testing.TB // the real test, for TempDir and Logf

	mu       sync.Mutex
	fatal    string
	skipped  string
	cleanups []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// inGoroutine runs fn as a test body would run, where Fatal and Skip end the
// goroutine.
func inGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func TestFailingTestLeavesNoServer(t *testing.T) {
	f := &fakeTB{TB: t}
	var addr string
	inGoroutine(func() {
		s := newServer(f, ownedConfig())
		addr = s.Addr()
		f.Fatalf("the test fails")
	})
	if err := ping(addr, 200*time.Millisecond); err != nil {
		t.Fatalf("before cleanup: PING got %v, want PONG", err)
	}
	f.runCleanups()
	if err := ping(addr, 200*time.Millisecond); err == nil {
		t.Errorf("after cleanup: PING to %s got PONG, want the server gone", addr)
	}
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config
		wantErr string
	}{
		{
			name:    "no redis anywhere",
			cfg:     config{lookPath: func(string) (string, error) { return "", exec.ErrNotFound }, fallbackAddr: "127.0.0.1:1"},
			wantErr: "redis-server not found: install it (apt-get install redis-server)",
		},
		{
			name:    "binary exits at once",
			cfg:     config{lookPath: func(string) (string, error) { return exec.LookPath("false") }},
			wantErr: "exited before answering PING",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			inGoroutine(func() { newServer(f, tt.cfg) })
			f.runCleanups()
			if !strings.Contains(f.fatal, tt.wantErr) {
				t.Errorf("fatal message: got %q, want it to contain %q", f.fatal, tt.wantErr)
			}
		})
	}
}

func TestEnvURL(t *testing.T) {
	backing := New(t)
	ctx := context.Background()
	if err := backing.Client().Set(ctx, "left-over", "x", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	f := &fakeTB{TB: t}
	var s *Server
	inGoroutine(func() { s = newServer(f, config{envURL: backing.URL()}) })
	defer f.runCleanups()
	if f.fatal != "" {
		t.Fatalf("newServer with %s: %s", EnvURL, f.fatal)
	}
	if s.URL() != backing.URL() || s.Addr() != backing.Addr() {
		t.Errorf("URL, Addr: got %q, %q; want %q, %q", s.URL(), s.Addr(), backing.URL(), backing.Addr())
	}
	if n, err := s.Client().Exists(ctx, "left-over").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS left-over: got %d, %v; want 0 (flushed on start), nil", n, err)
	}
	for _, c := range []struct {
		name string
		call func()
	}{{"Stop", s.Stop}, {"Pause", s.Pause}, {"Resume", s.Resume}} {
		f.skipped = ""
		inGoroutine(c.call)
		if !strings.Contains(f.skipped, "shared") {
			t.Errorf("%s on a Redis it does not own: got skip %q, want a skip saying the Redis is shared", c.name, f.skipped)
		}
		if err := ping(backing.Addr(), 200*time.Millisecond); err != nil {
			t.Errorf("the named Redis after %s: PING got %v, want PONG (never stopped nor frozen)", c.name, err)
		}
	}
}

func TestPauseResume(t *testing.T) {
	s := New(t)
	ctx := context.Background()
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Pause()
	if err := ping(s.Addr(), 200*time.Millisecond); err == nil {
		t.Fatalf("PING while paused: got PONG, want no answer")
	}
	s.Pause() // pausing twice is harmless
	s.Resume()
	if err := ping(s.Addr(), time.Second); err != nil {
		t.Fatalf("PING after Resume: got %v, want PONG", err)
	}
	if v, err := s.Client().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET k after Resume: got %q, %v; want \"v\" (a pause keeps data), nil", v, err)
	}
	s.Resume() // resuming a running server does nothing
	mustPing(t, s.Client())
}

// A paused server must not outlive its test, however the test ends with it.
func TestPausedServerEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(s *Server, f *fakeTB)
	}{
		{"cleanup", func(_ *Server, f *fakeTB) { f.runCleanups() }},
		{"Stop", func(s *Server, f *fakeTB) { s.Stop(); f.runCleanups() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			var s *Server
			inGoroutine(func() {
				s = newServer(f, ownedConfig())
				s.Pause()
			})
			if f.fatal != "" || f.skipped != "" {
				t.Fatalf("start and pause: fatal %q, skipped %q", f.fatal, f.skipped)
			}
			s.mu.Lock()
			exited := s.exited
			s.mu.Unlock()
			tt.end(s, f)
			select {
			case <-exited:
			default:
				t.Fatalf("the paused redis-server was not reaped")
			}
			if s.paused {
				t.Errorf("paused flag still set after the server ended")
			}
			if err := ping(s.Addr(), 200*time.Millisecond); err == nil {
				t.Errorf("PING to %s after the end: got PONG, want the server gone", s.Addr())
			}
		})
	}
}

func TestStopStartAfterPause(t *testing.T) {
	s := New(t)
	s.Pause()
	s.Stop()
	s.Start()
	if err := ping(s.Addr(), time.Second); err != nil {
		t.Fatalf("PING after Pause, Stop, Start: got %v, want PONG", err)
	}
	s.Resume() // nothing is paused any more: does nothing
	mustPing(t, s.Client())
}

func TestSharedFallback(t *testing.T) {
	backing := New(t)
	noBinary := config{lookPath: func(string) (string, error) { return "", exec.ErrNotFound }, fallbackAddr: backing.Addr()}
	ctx := context.Background()

	f1, f2 := &fakeTB{TB: t}, &fakeTB{TB: t}
	var s1, s2 *Server
	inGoroutine(func() { s1 = newServer(f1, noBinary) })
	inGoroutine(func() { s2 = newServer(f2, noBinary) })
	if f1.fatal != "" || f2.fatal != "" {
		t.Fatalf("newServer with a shared Redis: %q, %q", f1.fatal, f2.fatal)
	}
	db1, db2 := s1.Client().Options().DB, s2.Client().Options().DB
	if db1 == 0 || db2 == 0 || db1 == db2 {
		t.Fatalf("databases: got %d and %d, want two distinct non-zero ones", db1, db2)
	}
	if !strings.HasSuffix(s1.URL(), fmt.Sprintf("/%d", db1)) {
		t.Errorf("URL() = %q, want it to name database %d", s1.URL(), db1)
	}
	if err := s1.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if n, err := s2.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS k in the other database: got %d, %v; want 0, nil", n, err)
	}

	f1.runCleanups()
	f2.runCleanups()
	for _, db := range []int{db1, db2} {
		lock := lockPrefix + fmt.Sprint(db)
		if n, err := backing.Client().Exists(ctx, lock).Result(); err != nil || n != 0 {
			t.Errorf("EXISTS %s after cleanup: got %d, %v; want 0 (released), nil", lock, n, err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: backing.Addr(), DB: db1})
	defer c.Close()
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE of database %d after cleanup: got %d, %v; want 0, nil", db1, n, err)
	}
	if !errors.Is(s1.Client().Ping(ctx).Err(), redis.ErrClosed) {
		t.Errorf("Client() after cleanup: want it closed")
	}
}
