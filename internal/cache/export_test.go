package cache

import (
	"fmt"
	"slices"
)

// MemoryEntrySize is what an entry with a chunk of its own is charged: in a
// store bounded to less than 64 KiB, every entry has one.
func MemoryEntrySize(key, value string) int64 {
	return int64(cap(slices.Grow([]byte(nil), recordSize(len(key), len(value))))) + memoryEntryOverhead
}

// MemoryEntryOverhead is what each entry is charged beyond its record.
const MemoryEntryOverhead = memoryEntryOverhead

// MemoryChunkBytes is the size of a shared chunk in m.
func MemoryChunkBytes(m *Memory) int { return m.chunkBytes }

// WithHashBits keeps bits of each key's hash, so that with few bits keys
// share hashes.
func WithHashBits(bits uint) MemoryOption {
	return func(m *Memory) { m.hashMask = 1<<bits - 1 }
}

// Check verifies the store's bookkeeping: every index entry leads to a
// record in a chunk held whose key has that hash, every chunk's live count
// is the number of entries in it, and Bytes is what they add up to.
func (m *Memory) Check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := map[*memChunk]int{}
	for h, loc := range m.index {
		slot, off := loc>>32, uint32(loc)
		if int(slot) >= len(m.chunks) || m.chunks[slot] == nil {
			return fmt.Errorf("entry %x: in chunk %d, which is not held", h, slot)
		}
		c := m.chunks[slot]
		if c.gone || int(off) >= len(c.buf) || off%recordAlign != 0 {
			return fmt.Errorf("entry %x: at %d of a chunk of %d bytes (gone %v)", h, off, len(c.buf), c.gone)
		}
		if got := m.hashBytes(recordKey(c.buf[off:])); got != h {
			return fmt.Errorf("entry %x: its record's key hashes to %x", h, got)
		}
		live[c]++
	}
	want := int64(len(m.index)) * memoryEntryOverhead
	inOrder := map[*memChunk]bool{}
	for _, c := range m.order {
		if !c.gone {
			inOrder[c] = true
		}
	}
	for slot, c := range m.chunks {
		if c == nil {
			continue
		}
		if int(c.slot) != slot || c.gone || !inOrder[c] {
			return fmt.Errorf("chunk in slot %d: slot %d, gone %v, in order %v", slot, c.slot, c.gone, inOrder[c])
		}
		if c.live != live[c] || c.live == 0 && c != m.active {
			return fmt.Errorf("chunk %d: live %d, %d entries in it", slot, c.live, live[c])
		}
		want += int64(cap(c.buf))
	}
	if m.active != nil && (m.active.gone || m.chunks[m.active.slot] != m.active) {
		return fmt.Errorf("the active chunk is not held")
	}
	if m.bytes != want || m.bytes > max(m.maxBytes, 0) {
		return fmt.Errorf("Bytes %d, chunks and entries add up to %d, bound %d", m.bytes, want, m.maxBytes)
	}
	return nil
}
