package lookup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// entry is one cached section of one indicator. It is stored as a fixed
// binary header, the byte offsets where a list's records end, and the
// section's compact JSON, so that a cache hit parses no JSON at all: the
// header says everything the policy needs, and the offsets cut a list to
// a caller's limit by slicing. Data and the offsets alias the stored value,
// which nobody modifies.
type entry struct {
	ReceivedAt time.Time // when TIP sent it
	FreshUntil time.Time // after this, TIP is asked again; until the store's TTL it may still serve as stale
	Limit      int       // the count it was fetched with
	Count      int       // records in a list section; 0 for objects
	Complete   bool      // a list that holds every record TIP has (fewer than Limit, or uncounted)
	NotFound   bool      // on the Zone entry: TIP answered 404 for the object
	Data       json.RawMessage
	// ends holds, for a list, one big-endian uint32 per record: the offset
	// in Data just past that record. Empty for objects.
	ends []byte
}

// The store format. Version 1 had no offsets and kept TIP's bytes as sent;
// it is still read (compacted and indexed on the way in), so that a
// gateway upgraded in place keeps the cache it paid for.
const (
	entryVersion1 = 1
	entryVersion  = 2
	headerSize1   = 1 + 1 + 8 + 8 + 4 + 4
	headerSize    = headerSize1 + 4 // + the number of offsets

	flagComplete = 1 << 0
	flagNotFound = 1 << 1
	flagHasData  = 1 << 2
)

var errBadEntry = errors.New("malformed cache entry")

// sectionEntry builds the entry of a section TIP sent as raw (valid JSON):
// compacted once here, so that every hit copies it as it is, and indexed
// when it is a list.
func sectionEntry(raw []byte) (*entry, bool) {
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, false
	}
	data := buf.Bytes()
	e := &entry{Data: data}
	e.ends, e.Count = recordEnds(data)
	return e, true
}

func (e *entry) encode() []byte {
	b := make([]byte, headerSize, headerSize+len(e.ends)+len(e.Data))
	b[0] = entryVersion
	var flags byte
	if e.Complete {
		flags |= flagComplete
	}
	if e.NotFound {
		flags |= flagNotFound
	}
	if e.Data != nil {
		flags |= flagHasData
	}
	b[1] = flags
	binary.BigEndian.PutUint64(b[2:], uint64(e.ReceivedAt.UnixMilli()))
	binary.BigEndian.PutUint64(b[10:], uint64(e.FreshUntil.UnixMilli()))
	binary.BigEndian.PutUint32(b[18:], uint32(e.Limit))
	binary.BigEndian.PutUint32(b[22:], uint32(e.Count))
	binary.BigEndian.PutUint32(b[26:], uint32(len(e.ends)/4))
	b = append(b, e.ends...)
	return append(b, e.Data...)
}

// decodeEntry reads what encode wrote into e, without copying. Anything
// else (a foreign value under our key, a truncated one) is an error and the
// caller treats it as a miss.
func decodeEntry(b []byte, e *entry) error {
	if len(b) < headerSize1 {
		return errBadEntry
	}
	switch b[0] {
	case entryVersion:
		if len(b) < headerSize {
			return errBadEntry
		}
	case entryVersion1:
		return decodeEntry1(b, e)
	default:
		return errBadEntry
	}
	flags := decodeHeader(b, e)
	e.Count = int(binary.BigEndian.Uint32(b[22:]))
	n := uint64(binary.BigEndian.Uint32(b[26:]))
	rest := b[headerSize:]
	if n*4 > uint64(len(rest)) {
		return errBadEntry
	}
	e.ends, rest = rest[:n*4:n*4], rest[n*4:]
	if flags&flagHasData == 0 {
		if len(rest) > 0 || n > 0 {
			return errBadEntry
		}
		return nil
	}
	e.Data = json.RawMessage(rest)
	// The offsets must cut Data inside its bounds and in order, or a
	// corrupted value would slice past it.
	last := uint32(0)
	for i := 0; i < len(e.ends); i += 4 {
		end := binary.BigEndian.Uint32(e.ends[i:])
		if end <= last || int(end) >= len(rest) {
			return errBadEntry
		}
		last = end
	}
	return nil
}

// decodeEntry1 reads the version 1 format: the data as TIP sent it, which
// it compacts and indexes (at a cost only until the entry is next fetched).
func decodeEntry1(b []byte, e *entry) error {
	flags := decodeHeader(b, e)
	rest := b[headerSize1:]
	if flags&flagHasData == 0 {
		if len(rest) > 0 {
			return errBadEntry
		}
		return nil
	}
	s, ok := sectionEntry(rest)
	if !ok {
		return errBadEntry
	}
	e.Data = s.Data
	if binary.BigEndian.Uint32(b[22:]) > 0 { // a counted list: only those are cut
		e.ends, e.Count = s.ends, s.Count
	}
	return nil
}

// decodeHeader sets e to the header both formats share (the first
// headerSize1 bytes, which the caller has checked are there), and returns
// its flags.
func decodeHeader(b []byte, e *entry) (flags byte) {
	flags = b[1]
	*e = entry{
		ReceivedAt: time.UnixMilli(int64(binary.BigEndian.Uint64(b[2:]))).UTC(),
		FreshUntil: time.UnixMilli(int64(binary.BigEndian.Uint64(b[10:]))).UTC(),
		Limit:      int(binary.BigEndian.Uint32(b[18:])),
		Complete:   flags&flagComplete != 0,
		NotFound:   flags&flagNotFound != 0,
	}
	return flags
}

// cut is the length of Data's first limit records, when Data is a list of
// more than limit (>= 1) records; 0 otherwise (serve Data whole).
func (e *entry) cut(limit int) int {
	if limit < 1 || len(e.ends)/4 <= limit {
		return 0
	}
	return int(binary.BigEndian.Uint32(e.ends[(limit-1)*4:]))
}

// recordEnds indexes compact, valid JSON: when it is an array, the
// big-endian uint32 offset just past each element, and how many there are.
// Objects and scalars have none.
func recordEnds(data []byte) (ends []byte, n int) {
	if len(data) < 2 || data[0] != '[' || data[1] == ']' {
		return nil, 0
	}
	depth, inString := 0, false
	for i := 1; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped character cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 { // the array's own end
				ends = binary.BigEndian.AppendUint32(ends, uint32(i))
				return ends, n + 1
			}
			depth--
		case ',':
			if depth == 0 {
				ends = binary.BigEndian.AppendUint32(ends, uint32(i))
				n++
			}
		}
	}
	return nil, 0 // not valid JSON: serve it whole
}

// cutJSON is data's first limit records as a list of its own.
func (e *entry) cutJSON(limit int) json.RawMessage {
	end := e.cut(limit)
	if end == 0 {
		return e.Data
	}
	out := make([]byte, 0, end+1)
	out = append(out, e.Data[:end]...)
	return append(out, ']')
}
