// Package cache owns where tipgate keeps TIP's answers: a small key/value
// store contract and its two backends, an in-memory store with a byte bound
// (the embedded default) and Redis. Values are opaque bytes; what they mean
// and how keys are built belongs to the lookup service.
package cache

import "time"

// Item is one value to store.
type Item struct {
	Key   string
	Value []byte
	TTL   time.Duration // > 0; the entry disappears after it
}

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
