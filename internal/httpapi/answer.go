package httpapi

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tipgate/tipgate/internal/lookup"
)

// A lookup answer is written by appending its fields to one buffer: the
// sections are the stored compact JSON, copied as they are, so that a hit
// costs no JSON encoding (encoding/json would parse and compact every
// section again). The output is byte for byte what encoding/json wrote for
// the same answer with HTML escaping off: the field order of DESIGN.md and
// the sections sorted by name.

// appendLookup appends res as the JSON object of a lookup response.
func appendLookup(b []byte, res *lookup.Result) []byte {
	b = append(b, '{')
	b = appendLookupFields(b, res)
	return append(b, '}')
}

// appendLookupFields appends the members of a lookup response, without the
// braces, so that a batch item can put its input in front of them.
func appendLookupFields(b []byte, res *lookup.Result) []byte {
	b = append(b, `"indicator":`...)
	b = appendString(b, res.Indicator.Value)
	b = append(b, `,"type":`...)
	b = appendString(b, string(res.Indicator.Type))
	b = append(b, `,"zone":`...)
	b = appendString(b, res.Zone)
	b = append(b, `,"found":`...)
	b = strconv.AppendBool(b, res.Found)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(res.Limit), 10)

	var buf [16]int
	order := sortedSections(res.Sections, buf[:0])
	b = append(b, `,"sections":{`...)
	for i, j := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, res.Sections[j].Name)
		b = append(b, ':')
		b = res.Sections[j].AppendJSON(b)
	}
	b = append(b, `},"received_at":`...)
	b = appendTime(b, res.ReceivedAt)
	b = append(b, `,"sections_received_at":{`...)
	for i, j := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, res.Sections[j].Name)
		b = append(b, ':')
		b = appendTime(b, res.Sections[j].ReceivedAt)
	}
	b = append(b, `},"cache":`...)
	b = appendString(b, string(res.Cache))
	if res.StaleReason != "" {
		b = append(b, `,"stale_reason":`...)
		b = appendString(b, res.StaleReason)
	}
	return b
}

// sortedSections appends to order the indexes of sections sorted by name
// (an insertion sort: a type has a dozen sections at most).
func sortedSections(sections []lookup.Section, order []int) []int {
	for i := range sections {
		order = append(order, i)
		for k := len(order) - 1; k > 0 && sections[order[k]].Name < sections[order[k-1]].Name; k-- {
			order[k], order[k-1] = order[k-1], order[k]
		}
	}
	return order
}

// appendTime appends t as a JSON string in timeLayout.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes it
// with HTML escaping off: control characters, quote and backslash escaped,
// invalid UTF-8 replaced by U+FFFD, and U+2028 and U+2029 escaped because
// JavaScript does not allow them raw in strings.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// answerWriter holds what writing answers needs beyond the answer: a pool
// of the buffers they are assembled in (a hit then allocates nothing for
// its body; buffers that grew past maxPooledAnswer, a batch or a
// thousand-record list, are left to the collector, so that one large
// answer does not pin its size in every pooled buffer), and header values
// built once (a header value is a []string, which net/http only reads).
type answerWriter struct {
	pool        sync.Pool
	cacheStates map[lookup.CacheState][]string // X-Cache values
}

const maxPooledAnswer = 64 << 10

func newAnswerWriter() *answerWriter {
	a := &answerWriter{cacheStates: map[lookup.CacheState][]string{}}
	for _, c := range []lookup.CacheState{lookup.CacheHit, lookup.CacheMiss, lookup.CachePartial,
		lookup.CacheRefreshed, lookup.CacheStale, lookup.CacheLocal} {
		a.cacheStates[c] = []string{strings.ToUpper(string(c))}
	}
	return a
}

// xCache is the X-Cache header value of a cache state.
func (p *answerWriter) xCache(c lookup.CacheState) []string {
	if v, ok := p.cacheStates[c]; ok {
		return v
	}
	return []string{strings.ToUpper(string(c))}
}

func (p *answerWriter) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 8<<10)
	return &b
}

func (p *answerWriter) put(b *[]byte) {
	if cap(*b) > maxPooledAnswer {
		return
	}
	*b = (*b)[:0]
	p.pool.Put(b)
}
