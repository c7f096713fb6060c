package upstream

import (
	"context"
	"sync/atomic"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// Swap is the socket the innermost Fetcher (the *tip.Client) sits in, so
// that reloaded TIP credentials take effect without rebuilding the chain:
// Set puts a new client in, and every lookup that starts afterwards uses
// it, while lookups already running finish with the one they started with.
// It sits between Observe and the client, so the metrics, health, quota
// and budget carry on across a swap.
type Swap[F Fetcher] struct {
	cur atomic.Pointer[F]
}

// NewSwap returns a Swap holding f.
func NewSwap[F Fetcher](f F) *Swap[F] {
	s := &Swap[F]{}
	s.cur.Store(&f)
	return s
}

// Lookup asks the Fetcher held now.
func (s *Swap[F]) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	return (*s.cur.Load()).Lookup(ctx, ind, sections, count)
}

// Current returns the Fetcher held now.
func (s *Swap[F]) Current() F { return *s.cur.Load() }

// Set puts f in and returns the Fetcher it replaces, which lookups already
// running may still be using.
func (s *Swap[F]) Set(f F) (old F) { return *s.cur.Swap(&f) }
