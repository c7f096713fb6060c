package upstream

import (
	"context"
	"sync"
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// TestSwapKeepsRunningLookupsOnTheOldFetcher: a lookup that started before
// Set finishes with the Fetcher it started with; every later one uses the
// new Fetcher.
func TestSwapKeepsRunningLookupsOnTheOldFetcher(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	old := &fake{fn: func(context.Context, int) (*tip.Result, error) {
		close(entered)
		<-release
		return &tip.Result{Found: true}, nil
	}}
	next := &fake{}
	s := NewSwap[Fetcher](old)

	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		_, err = s.Lookup(t.Context(), testInd, nil, 0)
	}()
	<-entered
	if got := s.Set(next); got != Fetcher(old) {
		t.Errorf("Set returned %v, want the old fetcher", got)
	}
	if s.Current() != Fetcher(next) {
		t.Error("Current is not the new fetcher")
	}
	if _, err := s.Lookup(t.Context(), testInd, nil, 0); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	if err != nil {
		t.Fatalf("the lookup in flight across Set failed: %v", err)
	}
	if old.Calls() != 1 || next.Calls() != 1 {
		t.Errorf("calls: old %d, new %d; want 1 and 1", old.Calls(), next.Calls())
	}
}

// TestSwapConcurrentSet runs lookups while the Fetcher is replaced, for
// the race detector.
func TestSwapConcurrentSet(t *testing.T) {
	s := NewSwap[Fetcher](&fake{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := s.Lookup(context.Background(), indicator.Indicator{Type: indicator.Hash, Value: tip.ProbeHash}, nil, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 200 {
		s.Set(&fake{})
	}
	wg.Wait()
}
