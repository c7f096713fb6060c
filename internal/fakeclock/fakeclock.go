// Package fakeclock owns the settable clock tests inject wherever a
// component takes a `func() time.Time`, so that expiry and freshness can be
// tested without sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a goroutine-safe clock that moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock reading t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass c.Now where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
