package cache

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// GoMemoryLimit is the Go runtime's soft memory limit for a process whose
// in-process stores are bounded to localBytes in all (as Memory counts
// them), so that the process holds about 1.25× that + 40 MB: without it,
// the collector lets the heap grow to twice what is live (GOGC=100) before
// it runs. The limit leaves the rest of the process 15 % of the bound and
// 32 MiB to work in; TestMemoryRSS measures it.
func GoMemoryLimit(localBytes int64) int64 {
	return localBytes + localBytes*15/100 + 32<<20
}

// The store is laid out so that the collector has next to nothing to do
// with it, however many entries it holds: 3·10^6 small entries held as a
// map of strings to nodes pointing at one allocation per value cost two
// seconds of CPU per collection (BenchmarkMillion in
// internal/cache/storecmp), and the memory limit above makes collections
// frequent.
//
// Records (a header, the key, the value) are appended to chunks, large byte
// slices without pointers. A chunk's keys and values are never written once
// appended, so the value slices Get returns stay as they were for as long as
// a caller holds them, even after the chunk has left the store (the
// collector frees it once nobody does). The index maps a hash of the key to
// where its record is, so that it holds no pointers either; the key in the
// record is compared on every read, and two keys sharing a hash are not
// held together (the later evicts the earlier, which a cache may do).
//
// Eviction drops the oldest chunk whole. Its records read since they were
// written, and not expired, are first copied to the young end, unmarked: a
// second chance, which keeps what is being read (an approximation of
// least-recently-used eviction that lets reads share the lock).
const (
	// The record header: a used mark (uint32, read and written
	// atomically, the only word of a chunk written after its record is
	// appended), the key's and the value's lengths (uint32), 4 bytes of
	// padding and the expiry (int64, unix nanoseconds), little-endian.
	// Records start at multiples of 8 so that the mark is aligned.
	recordHeader = 24
	recordAlign  = 8

	// maxChunkBytes is the size of a shared chunk in a large store: what
	// an eviction frees at once, 1/256 of the default 256 MiB bound.
	maxChunkBytes = 1 << 20
	// chunksPerStore makes a small store's chunks smaller, so that an
	// eviction never frees more than 1/64 of it; under minChunkBytes every
	// record gets a chunk of its own.
	chunksPerStore = 64
	minChunkBytes  = 1 << 10
	// A record larger than 1/8 of a shared chunk gets a chunk of its own,
	// so that the space a full chunk leaves unused is at most that much.
	ownChunkShare = 8

	// memoryEntryOverhead is what each entry is charged beyond its record:
	// its slot in the index (two uint64s and a control byte, at a load
	// that wanders between 7/16 and 7/8 as the map grows).
	// TestMemoryFootprint measures the heap a filled store really takes
	// and fails when this drifts.
	memoryEntryOverhead = 32
)

// Memory is the embedded store, bounded by the bytes it really holds: its
// chunks, the space dead records leave in them included, and each entry's
// slot in the index. It is safe for concurrent use.
//
// Values returned by Get are the stored bytes themselves, not copies:
// callers must treat them as read-only. That spares a hit an allocation and
// a copy per value.
//
// Expired entries are never returned; their space is reclaimed when a read
// finds them or their chunk is dropped, which spares the store a
// background sweeper.
type Memory struct {
	maxBytes int64
	now      func() time.Time
	seed     maphash.Seed
	hashMask uint64 // all ones but in tests that make keys share hashes
	// chunkBytes is the size of a shared chunk, 0 when every record has
	// its own; records larger than chunkBytes/ownChunkShare do.
	chunkBytes int

	// mu is only read-locked by Get, which changes nothing but the marks
	// of what it reads (atomically); everything else holds it exclusively.
	mu        sync.RWMutex
	index     map[uint64]uint64 // hash of the key → chunk slot << 32 | offset
	chunks    []*memChunk       // by slot; nil where free
	freeSlots []uint32
	order     []*memChunk // oldest first; chunks gone since are skipped
	active    *memChunk   // the shared chunk small records go to, nil when none
	bytes     int64
	closed    bool
}

type memChunk struct {
	buf  []byte // appended to only, but for the records' used marks
	slot uint32
	live int // records still indexed
	gone bool
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithClock makes the store read time from now instead of time.Now, so that
// tests can expire entries without sleeping.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now = now }
}

// NewMemory returns an empty store holding at most maxBytes of heap. An
// item larger than the bound on its own is not stored; with maxBytes <= 0
// nothing is.
func NewMemory(maxBytes int64, opts ...MemoryOption) *Memory {
	m := &Memory{
		maxBytes:   maxBytes,
		now:        time.Now,
		seed:       maphash.MakeSeed(),
		hashMask:   math.MaxUint64,
		chunkBytes: int(min(maxBytes/chunksPerStore, maxChunkBytes)),
		index:      make(map[uint64]uint64),
	}
	if m.chunkBytes < minChunkBytes {
		m.chunkBytes = 0
	}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// Name reports the backend for status and metrics.
func (m *Memory) Name() string { return "memory" }

// Get returns one value per key in key order, nil where a key is absent or
// expired. The values are the stored bytes: the caller must not modify
// them (appending is safe: it allocates).
func (m *Memory) Get(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	now := m.now().UnixNano()
	expired := false

	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	for i, k := range keys {
		rec := m.find(m.hash(k), k)
		switch {
		case rec == nil:
		case now >= recordExpires(rec):
			expired = true
		default:
			// Loading first keeps a hot entry's cache line shared
			// between the cores reading it.
			if used := recordUsed(rec); used.Load() == 0 {
				used.Store(1)
			}
			out[i] = recordValue(rec)
		}
	}
	m.mu.RUnlock()

	if expired {
		m.reclaim(keys, now)
	}
	return out, nil
}

// find returns the record of key, whose hash is h, or nil. m.mu is held.
func (m *Memory) find(h uint64, key string) []byte {
	loc, ok := m.index[h]
	if !ok {
		return nil
	}
	rec := m.chunks[loc>>32].buf[uint32(loc):]
	if string(recordKey(rec)) != key {
		return nil // another key with the same hash
	}
	return rec
}

// reclaim frees the entries among keys that have expired by now, which a
// read found but could not remove under the shared lock.
func (m *Memory) reclaim(keys []string, now int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		// Looked up again: a Set may have replaced it since.
		h := m.hash(k)
		if rec := m.find(h, k); rec != nil && now >= recordExpires(rec) {
			m.remove(h)
		}
	}
}

// Set stores every item, replacing earlier values of the same keys and
// dropping the oldest chunks, but what was read since it was written, to
// stay within the bound.
func (m *Memory) Set(ctx context.Context, items []Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateItems(items); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	now := m.now().UnixNano()
	hashes := make([]uint64, len(items))
	for i, it := range items {
		hashes[i] = m.hash(it.Key)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i, it := range items {
		h := hashes[i]
		if _, ok := m.index[h]; ok {
			// The same key, or one sharing its hash: either way the
			// old value must not be read as current.
			m.remove(h)
		}
		size := recordSize(len(it.Key), len(it.Value))
		c, ok := m.room(size, now)
		if !ok {
			// Storing it would evict everything else for one entry.
			continue
		}
		off := len(c.buf)
		c.buf = binary.LittleEndian.AppendUint32(c.buf, 0)
		c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(len(it.Key)))
		c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(len(it.Value)))
		c.buf = binary.LittleEndian.AppendUint32(c.buf, 0)
		c.buf = binary.LittleEndian.AppendUint64(c.buf, uint64(expiry(now, it.TTL)))
		c.buf = append(append(c.buf, it.Key...), it.Value...)
		c.buf = c.buf[:off+size] // the padding, zero already
		m.index[h] = uint64(c.slot)<<32 | uint64(off)
		c.live++
		m.bytes += memoryEntryOverhead
	}
	return nil
}

// room returns a chunk with space for a record of size bytes and its
// entry's slot in the index, dropping the oldest chunks as needed; false
// when the record cannot fit within the bound.
func (m *Memory) room(size int, now int64) (*memChunk, bool) {
	if size > m.chunkBytes/ownChunkShare {
		// A chunk of its own, charged as big as the allocator made it
		// (checked before allocating, too: an item may be huge).
		if size > math.MaxUint32 || int64(size)+memoryEntryOverhead > m.maxBytes {
			return nil, false
		}
		buf := slices.Grow([]byte(nil), size)
		if int64(cap(buf))+memoryEntryOverhead > m.maxBytes {
			return nil, false
		}
		for m.bytes+int64(cap(buf))+memoryEntryOverhead > m.maxBytes {
			m.dropOldest(now)
		}
		return m.addChunk(buf), true
	}
	for {
		c := m.active
		switch {
		case c != nil && cap(c.buf)-len(c.buf) < size:
			m.active = nil // full: the next record starts a new chunk
			continue
		case c != nil && m.bytes+memoryEntryOverhead <= m.maxBytes:
			return c, true
		case c == nil && m.bytes+int64(m.chunkBytes)+memoryEntryOverhead <= m.maxBytes:
			m.active = m.addChunk(slices.Grow([]byte(nil), m.chunkBytes))
			continue
		case len(m.order) == 0:
			return nil, false
		}
		m.dropOldest(now)
	}
}

// addChunk puts buf in the store as its youngest chunk, charging all of
// its capacity: what the allocator really gave.
func (m *Memory) addChunk(buf []byte) *memChunk {
	c := &memChunk{buf: buf}
	if n := len(m.freeSlots); n > 0 {
		c.slot = m.freeSlots[n-1]
		m.freeSlots = m.freeSlots[:n-1]
		m.chunks[c.slot] = c
	} else {
		c.slot = uint32(len(m.chunks))
		m.chunks = append(m.chunks, c)
	}
	m.order = append(m.order, c)
	m.bytes += int64(cap(c.buf))
	return c
}

// dropOldest drops the oldest chunk: its records read since they were
// written, and not expired, are copied to the young end where there is
// room, unmarked; the others are evicted. m.order is not empty.
func (m *Memory) dropOldest(now int64) {
	c := m.order[0]
	m.order[0] = nil
	m.order = m.order[1:]
	if c.gone {
		return
	}
	// Out of the count first, so that what is kept has its room; the slot
	// is released last, so that no chunk made meanwhile takes it while
	// the index still names it.
	c.gone = true
	if c == m.active {
		m.active = nil
	}
	m.bytes -= int64(cap(c.buf))
	var keep []uint64
	for off := 0; off < len(c.buf); {
		rec := c.buf[off:]
		h := m.hashBytes(recordKey(rec))
		if loc, ok := m.index[h]; ok && loc == uint64(c.slot)<<32|uint64(off) {
			if recordUsed(rec).Load() != 0 && now < recordExpires(rec) {
				keep = append(keep, h)
			} else {
				m.unindex(h)
			}
		}
		off += recordSize(len(recordKey(rec)), len(recordValue(rec)))
	}
	for _, h := range keep {
		m.move(h, c)
	}
	m.release(c)
}

// move copies the record of entry h from the dropped chunk old to the
// young end, unmarked, or evicts the entry when that would need more room.
func (m *Memory) move(h uint64, old *memChunk) {
	rec := old.buf[uint32(m.index[h]):]
	rec = rec[:recordSize(len(recordKey(rec)), len(recordValue(rec)))]
	var c *memChunk
	switch {
	case len(rec) > m.chunkBytes/ownChunkShare:
		if buf := slices.Grow([]byte(nil), len(rec)); m.bytes+int64(cap(buf)) <= m.maxBytes {
			c = m.addChunk(buf)
		}
	case m.active != nil && cap(m.active.buf)-len(m.active.buf) >= len(rec):
		c = m.active
	case m.bytes+int64(m.chunkBytes) <= m.maxBytes:
		m.active = m.addChunk(slices.Grow([]byte(nil), m.chunkBytes))
		c = m.active
	}
	if c == nil {
		m.unindex(h)
		return
	}
	off := len(c.buf)
	c.buf = append(c.buf, rec...)
	recordUsed(c.buf[off:]).Store(0)
	m.index[h] = uint64(c.slot)<<32 | uint64(off)
	c.live++
}

// remove forgets entry h (which is indexed), and frees its chunk when it
// was the last record there.
func (m *Memory) remove(h uint64) {
	c := m.chunks[m.index[h]>>32]
	m.unindex(h)
	if c.live--; c.live == 0 {
		c.gone = true
		if c == m.active {
			m.active = nil
		}
		m.bytes -= int64(cap(c.buf))
		m.release(c)
	}
}

// unindex forgets entry h (which is indexed), leaving its record where it
// is.
func (m *Memory) unindex(h uint64) {
	delete(m.index, h)
	m.bytes -= memoryEntryOverhead
}

// release gives the slot of chunk c, out of the count already, to the next
// chunk. Its bytes stay readable by those Get gave them to.
func (m *Memory) release(c *memChunk) {
	m.chunks[c.slot] = nil
	m.freeSlots = append(m.freeSlots, c.slot)
	// Chunks gone at the old end leave now; the others when they get
	// there.
	for len(m.order) > 0 && m.order[0].gone {
		m.order[0] = nil
		m.order = m.order[1:]
	}
}

func (m *Memory) hash(key string) uint64 { return maphash.String(m.seed, key) & m.hashMask }

func (m *Memory) hashBytes(key []byte) uint64 { return maphash.Bytes(m.seed, key) & m.hashMask }

// expiry is now + ttl, the far future where that overflows.
func expiry(now int64, ttl time.Duration) int64 {
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

func recordSize(keyLen, valueLen int) int {
	return (recordHeader + keyLen + valueLen + recordAlign - 1) &^ (recordAlign - 1)
}

// recordUsed is the record's used mark, set by reads under the shared
// lock, hence atomic; records are 8-aligned in chunks the allocator aligns.
func recordUsed(rec []byte) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(unsafe.SliceData(rec)))
}

func recordExpires(rec []byte) int64 { return int64(binary.LittleEndian.Uint64(rec[16:])) }

func recordKey(rec []byte) []byte {
	k := binary.LittleEndian.Uint32(rec[4:])
	return rec[recordHeader : recordHeader+k]
}

// recordValue caps the slice at its length, so that a caller appending to
// it allocates instead of writing over the next record.
func recordValue(rec []byte) []byte {
	k, v := binary.LittleEndian.Uint32(rec[4:]), binary.LittleEndian.Uint32(rec[8:])
	return rec[recordHeader+k : recordHeader+k+v : recordHeader+k+v]
}

// Delete forgets the keys; absent keys are not an error.
func (m *Memory) Delete(ctx context.Context, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, k := range keys {
		if h := m.hash(k); m.find(h, k) != nil {
			m.remove(h)
		}
	}
	return nil
}

// Ping reports whether the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close drops every entry; later calls return ErrClosed. Closing twice is
// not an error.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.reset()
	m.index = nil
	return nil
}

// Clear drops every entry and leaves the store open. The Guard empties its
// fallback with it when the shared store comes back.
func (m *Memory) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.reset()
}

// reset empties the store. A new map rather than a cleared one: a map
// never shrinks, and an empty store should hold no memory.
func (m *Memory) reset() {
	m.index = make(map[uint64]uint64)
	m.chunks, m.freeSlots, m.order, m.active = nil, nil, nil, nil
	m.bytes = 0
}

// Len is the number of entries held, including expired ones not yet
// reclaimed.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.index)
}

// Bytes is the heap the store holds, as counted against the bound: its
// chunks, with the space of records since replaced, deleted or expired
// until the chunk is dropped, and each entry's slot in the index.
func (m *Memory) Bytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bytes
}
