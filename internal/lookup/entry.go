package lookup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// entry is one cached section of one indicator. It is stored as a fixed
// binary header followed by the section's raw JSON, so that a cache hit costs
// no JSON parsing at all: the header says everything the policy needs.
type entry struct {
	ReceivedAt time.Time // when TIP sent it
	FreshUntil time.Time // after this, TIP is asked again; until the store's TTL it may still serve as stale
	Limit      int       // the count it was fetched with
	Count      int       // records in a list section; 0 for objects
	Complete   bool      // a list that holds every record TIP has (fewer than Limit, or uncounted)
	NotFound   bool      // on the Zone entry: TIP answered 404 for the object
	Data       json.RawMessage
}

const (
	entryVersion = 1
	headerSize   = 1 + 1 + 8 + 8 + 4 + 4

	flagComplete = 1 << 0
	flagNotFound = 1 << 1
	flagHasData  = 1 << 2
)

var errBadEntry = errors.New("malformed cache entry")

func (e *entry) encode() []byte {
	b := make([]byte, headerSize, headerSize+len(e.Data))
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
	return append(b, e.Data...)
}

// decodeEntry reads what encode wrote. Anything else (a foreign or older
// value under our key) is an error and the caller treats it as a miss.
func decodeEntry(b []byte) (*entry, error) {
	if len(b) < headerSize || b[0] != entryVersion {
		return nil, errBadEntry
	}
	flags := b[1]
	e := &entry{
		ReceivedAt: time.UnixMilli(int64(binary.BigEndian.Uint64(b[2:]))).UTC(),
		FreshUntil: time.UnixMilli(int64(binary.BigEndian.Uint64(b[10:]))).UTC(),
		Limit:      int(binary.BigEndian.Uint32(b[18:])),
		Count:      int(binary.BigEndian.Uint32(b[22:])),
		Complete:   flags&flagComplete != 0,
		NotFound:   flags&flagNotFound != 0,
	}
	if flags&flagHasData != 0 {
		e.Data = json.RawMessage(b[headerSize:])
	} else if len(b) > headerSize {
		return nil, errBadEntry
	}
	return e, nil
}

// listLen counts the elements of a JSON array; ok is false when data is not
// an array (TIP's shape for a section is not guaranteed, e.g. Subdomains).
func listLen(data []byte) (n int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return 0, false
	}
	for dec.More() {
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, false
		}
		n++
	}
	return n, true
}

// cutList returns the first limit (>= 1) elements of the JSON array data,
// which must be valid JSON; data that is not an array, or not longer than
// limit, is returned unchanged.
func cutList(data []byte, limit int) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return data
	}
	for i := 0; i < limit; i++ {
		if !dec.More() {
			return data
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return data
		}
	}
	if !dec.More() {
		return data
	}
	end := dec.InputOffset()
	out := make([]byte, 0, end+1)
	out = append(out, data[:end]...)
	return append(out, ']')
}
