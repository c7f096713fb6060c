// Package cache owns where tipgate keeps TIP's answers: a small key/value
// store contract and its two backends, an in-memory store with a byte bound
// (the embedded default) and Redis, and the wrappers in front of Redis:
// Hot (the in-process tier, which also answers while Redis is down), Guard
// (fail fast) and Writer (write behind). Values are opaque bytes; what they mean and how
// keys are built belongs to the lookup service.
package cache

import (
	"errors"
	"fmt"
	"time"
)

// Item is one value to store.
type Item struct {
	Key   string
	Value []byte
	TTL   time.Duration // > 0; the entry disappears after it
}

// ErrClosed is returned by every call made after Close.
var ErrClosed = errors.New("cache: store is closed")

// Every backend implements these methods (the consumer, internal/lookup,
// declares the interface it needs):
//
//	// Get returns one value per key, in key order; nil where a key is absent.
//	// One call is one round trip.
//	Get(ctx context.Context, keys []string) ([][]byte, error)
//	// Set stores every item; one call is one round trip.
//	Set(ctx context.Context, items []Item) error
//	// Delete forgets the keys; absent keys are not an error.
//	Delete(ctx context.Context, keys []string) error
//	// Ping reports whether the store answers.
//	Ping(ctx context.Context) error
//	// Name is the backend's name for status and metrics: "memory" or "redis".
//	Name() string
//	Close() error

// validateItems rejects a batch with an item that has no lifetime before
// anything is written: an entry without a TTL would never leave Redis, and
// storing half a batch would leave an indicator's sections out of step.
func validateItems(items []Item) error {
	for _, it := range items {
		if it.TTL <= 0 {
			return fmt.Errorf("cache: item %q has TTL %v; every item needs a positive TTL", it.Key, it.TTL)
		}
	}
	return nil
}
