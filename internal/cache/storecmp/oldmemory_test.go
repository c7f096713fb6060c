package storecmp

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
)

// listEntryOverhead is what Memory charges each entry on top of its key and
// value: an estimate of the entry struct, its map slot and allocator rounding,
// so that a bound set in bytes holds roughly that much heap even when values
// are small.
const listEntryOverhead = 128

// listMemory is the memory store as it was before perf-mem, kept to compare
// against: container/list, an exclusive lock, copies on Get.
//
// It was the embedded store: a least-recently-used map bounded by bytes.
// It is safe for concurrent use. Expired entries are never returned; they
// keep their space until a call touches them or they are evicted from the
// cold end, which spares the store a background sweeper.
type listMemory struct {
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry
	// lru orders entries by use: Front is the most recently used, Back the
	// least.
	lru    *list.List
	bytes  int64
	closed bool
}

type entry struct {
	key     string
	value   []byte // never modified after insertion, so it may be read outside mu
	expires time.Time
	size    int64
}

// newListMemory returns an empty store holding at most maxBytes, counting each
// entry as len(key) + len(value) + listEntryOverhead. An item larger than
// the bound on its own is not stored; with maxBytes <= 0 nothing is.
func newListMemory(maxBytes int64) *listMemory {
	m := &listMemory{
		maxBytes: maxBytes,
		now:      time.Now,
		entries:  make(map[string]*list.Element),
		lru:      list.New(),
	}
	return m
}

// Get returns one value per key in key order, nil where a key is absent or
// expired. The values are copies the caller may keep and modify.
func (m *listMemory) Get(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	now := m.now()

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errClosed
	}
	for i, k := range keys {
		el := m.entries[k]
		if el == nil {
			continue
		}
		if e := el.Value.(*entry); now.Before(e.expires) {
			m.lru.MoveToFront(el)
			out[i] = e.value
		} else {
			m.remove(el)
		}
	}
	m.mu.Unlock()

	// Copy outside the lock: stored values are immutable, and a large value
	// should not hold up every other caller.
	for i, v := range out {
		if v != nil {
			out[i] = clone(v)
		}
	}
	return out, nil
}

// Set stores every item, replacing earlier values of the same keys and
// evicting the least recently used entries to stay within the bound.
func (m *listMemory) Set(ctx context.Context, items []cache.Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	now := m.now()
	// Build the entries before locking so the copies do not hold up readers.
	fresh := make([]*entry, len(items))
	for i, it := range items {
		fresh[i] = &entry{
			key:     it.Key,
			value:   clone(it.Value),
			expires: now.Add(it.TTL),
			size:    int64(len(it.Key)) + int64(len(it.Value)) + listEntryOverhead,
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	for _, e := range fresh {
		if old := m.entries[e.key]; old != nil {
			m.remove(old)
		}
		if e.size > m.maxBytes {
			// Storing it would evict everything else for one entry; the
			// old value is gone all the same, so no caller reads it as current.
			continue
		}
		m.entries[e.key] = m.lru.PushFront(e)
		m.bytes += e.size
		for m.bytes > m.maxBytes {
			m.remove(m.lru.Back())
		}
	}
	return nil
}

// Delete forgets the keys; absent keys are not an error.
func (m *listMemory) Delete(ctx context.Context, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	for _, k := range keys {
		if el := m.entries[k]; el != nil {
			m.remove(el)
		}
	}
	return nil
}

// Ping reports whether the store is open.
func (m *listMemory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	return nil
}

// Close drops every entry; later calls return ErrClosed. Closing twice is
// not an error.
func (m *listMemory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.entries = nil
	m.lru.Init()
	m.bytes = 0
	return nil
}

// Clear drops every entry and leaves the store open. The Guard empties its
// fallback with it when the shared store comes back.
func (m *listMemory) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	clear(m.entries)
	m.lru.Init()
	m.bytes = 0
}

// Len is the number of entries held, including expired ones not yet
// reclaimed.
func (m *listMemory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Bytes is the space the entries are charged, as counted against the bound.
func (m *listMemory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

func (m *listMemory) remove(el *list.Element) {
	e := m.lru.Remove(el).(*entry)
	delete(m.entries, e.key)
	m.bytes -= e.size
}

// clone copies b, keeping an empty value non-nil so that it still reads as
// present.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

var errClosed = errors.New("closed")
