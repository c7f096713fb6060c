package tipsim

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// MaxConcurrent is the high-water mark of lookups handled at once: 1 for
// requests one after another, n for n requests held open together, and
// Reset starts it again from what is in flight.
func TestMaxConcurrent(t *testing.T) {
	env := startSim(t, Options{})
	for range 3 {
		if a := env.lookup(t, "/api/domain/example.com?sections=Zone"); a.status != 200 {
			t.Fatalf("lookup: %d", a.status)
		}
	}
	if got := env.sim.MaxConcurrent(); got != 1 {
		t.Fatalf("MaxConcurrent after sequential requests = %d, want 1", got)
	}

	// Hung requests stay in flight until their client gives up, so n of
	// them are certainly handled at the same time.
	const n = 5
	env.sim.Inject(Fault{Hang: true, Times: n})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.srv.URL()+"/api/ip/8.8.8.8", nil)
			if err != nil {
				t.Error(err)
				return
			}
			env.basic(req)
			if resp, err := env.client.Do(req); err == nil {
				resp.Body.Close()
				t.Error("a hung request was answered")
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); env.sim.Requests() < 3+n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the %d hung requests reached the simulator", env.sim.Requests()-3, n)
		}
	}
	if got := env.sim.MaxConcurrent(); got != n {
		t.Fatalf("MaxConcurrent with %d hung requests = %d, want %d", n, got, n)
	}
	cancel()
	wg.Wait()

	// Once the hung handlers have returned, Reset brings it back to 0.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		env.sim.Reset()
		if env.sim.MaxConcurrent() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MaxConcurrent after Reset = %d, want 0 once no request is in flight", env.sim.MaxConcurrent())
		}
	}
	env.lookup(t, "/api/domain/example.com?sections=Zone")
	if got := env.sim.MaxConcurrent(); got != 1 {
		t.Fatalf("MaxConcurrent after Reset and one request = %d, want 1", got)
	}
}
