package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tipgate/tipgate/internal/lookup"
)

// Output formats of a lookup.
const (
	formatJSON = "json"
	formatFlat = "flat"
)

// Parameter names, shared by the query string and JSON bodies.
const (
	paramIndicator  = "indicator"
	paramType       = "type"
	paramSections   = "sections"
	paramLimit      = "limit"
	paramFormat     = "format"
	paramCacheOnly  = "cache_only"
	paramIndicators = "indicators"
)

// The parameters each kind of request takes, in the order problems report
// them.
var (
	lookupParams   = []string{paramIndicator, paramType, paramSections, paramLimit, paramFormat, paramCacheOnly}
	purgeParams    = []string{paramIndicator, paramType}
	functionParams = []string{paramIndicator, paramLimit, paramCacheOnly}
	batchParams    = []string{paramIndicators, paramSections, paramLimit, paramFormat, paramCacheOnly}
	batchItemKeys  = []string{paramIndicator, paramType}
)

// lookupInput is a lookup as the caller sent it, parsed but not validated
// by the lookup service.
type lookupInput struct {
	query  lookup.Query
	format string
}

// params are a request's parameters by name, as one source carried them:
// a query string (every value given, as text) or a JSON object (each
// member's value; a null member is absent, as callers filling templates
// send null for "not given"). Every kind of request reads its parameters
// through readLookup, so that a parameter means the same wherever it is
// given.
//
// A query string is read where it lies rather than into url.Values, whose
// map and slices every GET lookup would allocate: queryParams checks it as
// url.ParseQuery would, and each parameter is found by a scan of a few
// dozen bytes.
type params struct {
	query  string // when fields is nil
	fields map[string]json.RawMessage
}

// manyQueryParams is where queryParams lets url.ParseQuery judge a query
// too: it bounds the number of parameters (GODEBUG urlmaxqueryparams).
const manyQueryParams = 100

func queryParams(raw string) (params, error) {
	if !validQuery(raw) {
		return params{}, invalid(lookup.InvalidParam{Name: "query", Reason: "the query string is malformed; percent-encode special characters and separate parameters with &"})
	}
	return params{query: raw}, nil
}

// validQuery reports whether url.ParseQuery would accept raw.
func validQuery(raw string) bool {
	if strings.Count(raw, "&") >= manyQueryParams {
		if _, err := url.ParseQuery(raw); err != nil {
			return false
		}
	}
	for q := raw; q != ""; {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if strings.Contains(part, ";") {
			return false
		}
		k, v, _ := strings.Cut(part, "=")
		if !validEscapes(k) || !validEscapes(v) {
			return false
		}
	}
	return true
}

func validEscapes(s string) bool {
	if !strings.ContainsRune(s, '%') {
		return true
	}
	_, err := url.QueryUnescape(s)
	return err == nil
}

// nextQueryParam reads the first parameter of q, a query queryParams
// accepted: its name unescaped, its value as sent (unescape it with
// queryValue), and the rest of q; ok is false when there is none left.
func nextQueryParam(q string) (name, value, rest string, ok bool) {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if part == "" {
			continue
		}
		name, value, _ = strings.Cut(part, "=")
		name, _ = url.QueryUnescape(name) // checked by queryParams
		return name, value, q, true
	}
	return "", "", "", false
}

// queryValue unescapes a value nextQueryParam returned.
func queryValue(v string) string {
	v, _ = url.QueryUnescape(v) // checked by queryParams
	return v
}

// queryText returns the first value of the query parameter name, and how
// many times it is given.
func (p params) queryText(name string) (first string, n int) {
	for q := p.query; ; {
		k, v, rest, ok := nextQueryParam(q)
		if !ok {
			return first, n
		}
		if k == name {
			if n == 0 {
				first = queryValue(v)
			}
			n++
		}
		q = rest
	}
}

func jsonParams(fields map[string]json.RawMessage) params {
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	return params{fields: fields}
}

// unknown returns the names of p's parameters not in known, each once,
// sorted so that an answer does not depend on map order; nil, with no
// allocation, when every one is known. An empty name ("indicator=x&" or
// "&=" from sloppy URL building) names nothing.
func (p params) unknown(known []string) []string {
	var out []string
	note := func(k string) {
		if k != "" && !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	if p.fields != nil {
		for k := range p.fields {
			note(k)
		}
	} else {
		for q := p.query; ; {
			k, _, rest, ok := nextQueryParam(q)
			if !ok {
				break
			}
			note(k)
			q = rest
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// raw returns a JSON member's value; ok is false when it is absent or null.
func (p params) raw(name string) (json.RawMessage, bool) {
	raw, ok := p.fields[name]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// readLookup reads the parameters in known from p: the one parser of a
// lookup's parameters, for GET and POST lookups, refreshes, purges, batch
// items and the batch's shared parameters, and functions. Names in known
// that are not lookup parameters (a batch's indicators) are left to the
// caller; every name not in known is reported as unknown.
func readLookup(p params, known []string) (lookupInput, error) {
	var pe paramErrors
	in := pe.read(p, known)
	return in, pe.err()
}

// read is readLookup adding its problems to pe.
func (pe *paramErrors) read(p params, known []string) lookupInput {
	in := lookupInput{format: formatJSON}
	for _, name := range known {
		switch name {
		case paramIndicator:
			in.query.Indicator = pe.text(p, name)
		case paramType:
			in.query.Type = pe.text(p, name)
		case paramSections:
			in.query.Sections = pe.sections(p)
		case paramLimit:
			in.query.Limit = pe.limit(p)
		case paramFormat:
			in.format = pe.format(pe.text(p, name))
		case paramCacheOnly:
			if pe.boolean(p, name) {
				in.query.Mode = lookup.CacheOnly
			}
		}
	}
	for _, n := range p.unknown(known) {
		// A typo ("section", "count") would otherwise silently give the
		// defaults, which may cost quota for sections nobody wanted.
		pe.add(n, "unknown parameter; use %s", strings.Join(known, ", "))
	}
	return in
}

// paramErrors collects every problem with a caller's input, so one answer
// lists them all.
type paramErrors []lookup.InvalidParam

func (pe *paramErrors) add(name, format string, args ...any) {
	*pe = append(*pe, lookup.InvalidParam{Name: truncate(name, maxParamName), Reason: fmt.Sprintf(format, args...)})
}

func (pe paramErrors) err() error {
	if len(pe) == 0 {
		return nil
	}
	return invalid(pe...)
}

// text reads a parameter that is one string.
func (pe *paramErrors) text(p params, name string) string {
	if p.fields == nil {
		first, n := p.queryText(name)
		if n > 1 {
			pe.add(name, "give %s only once", name)
		}
		return first
	}
	raw, ok := p.raw(name)
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		pe.add(name, "must be a string")
		return ""
	}
	return s
}

// sections reads section names: comma-separated text, repeated in a query
// ("sections=A,B" and "sections=A&sections=B" mean the same), or in JSON a
// list of names or one comma-separated string.
func (pe *paramErrors) sections(p params) []string {
	if p.fields == nil {
		return p.querySections()
	}
	raw, ok := p.raw(paramSections)
	if !ok {
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return splitSections(list)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return splitSections([]string{s})
	}
	pe.add(paramSections, "must be a list of section names or a comma-separated string")
	return nil
}

// querySections is splitSections of the query's sections values, with
// one allocation: the names are counted first.
func (p params) querySections() []string {
	each := func(yield func(string)) {
		for q := p.query; ; {
			k, v, rest, ok := nextQueryParam(q)
			if !ok {
				return
			}
			if k == paramSections {
				for s := range strings.SplitSeq(queryValue(v), ",") {
					if s = strings.TrimSpace(s); s != "" {
						yield(s)
					}
				}
			}
			q = rest
		}
	}
	n := 0
	each(func(string) { n++ })
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	each(func(s string) { out = append(out, s) })
	return out
}

func splitSections(values []string) []string {
	var out []string
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// limit reads the record limit: text in a query, a JSON number in a body
// (without fraction or exponent; "10" as a JSON string is a mistake worth
// telling the caller about). Absent is 0, the service's default.
func (pe *paramErrors) limit(p params) int {
	var text string
	if p.fields == nil {
		text = strings.TrimSpace(pe.text(p, paramLimit))
	} else if raw, ok := p.raw(paramLimit); ok {
		text = string(raw)
	}
	if text == "" {
		return 0
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		pe.add(paramLimit, "must be a whole number from %d to %d", lookup.MinLimit, lookup.MaxLimit)
		return 0
	}
	// The service reads 0 as "the default", which an explicit 0 must not
	// become.
	if n < lookup.MinLimit || n > lookup.MaxLimit {
		pe.add(paramLimit, "must be from %d to %d, got %d", lookup.MinLimit, lookup.MaxLimit, n)
		return 0
	}
	return n
}

func (pe *paramErrors) format(s string) string {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case "", formatJSON:
		return formatJSON
	case formatFlat:
		return formatFlat
	}
	pe.add(paramFormat, "must be json or flat")
	return formatJSON
}

// boolean reads true or false: a JSON boolean in a body; in a query,
// true/false/1/0 in any case.
func (pe *paramErrors) boolean(p params, name string) bool {
	if p.fields == nil {
		switch strings.ToLower(strings.TrimSpace(pe.text(p, name))) {
		case "", "false", "0":
			return false
		case "true", "1":
			return true
		}
		pe.add(name, "must be true or false")
		return false
	}
	raw, ok := p.raw(name)
	if !ok {
		return false
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		pe.add(name, "must be true or false")
		return false
	}
	return b
}

// parseLookupQuery reads GET /v1/lookup's query string.
func parseLookupQuery(raw string) (lookupInput, error) {
	p, err := queryParams(raw)
	if err != nil {
		return lookupInput{}, err
	}
	return readLookup(p, lookupParams)
}

// parsePurgeQuery reads DELETE /v1/cache's query string.
func parsePurgeQuery(raw string) (lookup.Query, error) {
	p, err := queryParams(raw)
	if err != nil {
		return lookup.Query{}, err
	}
	in, err := readLookup(p, purgeParams)
	return in.query, err
}

// parseFunctionQuery reads GET /v1/functions/{name}'s query string; the
// function fixes the type, the sections and the format.
func parseFunctionQuery(raw string) (lookupInput, error) {
	p, err := queryParams(raw)
	if err != nil {
		return lookupInput{}, err
	}
	in, err := readLookup(p, functionParams)
	in.format = formatFlat
	return in, err
}

// readJSONBody reads a body that must be JSON. The media type is checked
// leniently: curl -d sends application/x-www-form-urlencoded, and a body
// that is JSON is taken as JSON whatever its label says.
func readJSONBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, invalid(lookup.InvalidParam{Name: "body", Reason: "the request body could not be read"})
	}
	ct := r.Header.Get("Content-Type")
	if !isJSONMediaType(ct) && !json.Valid(body) {
		return nil, errUnsupportedMediaType(truncate(ct, 100))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid(lookup.InvalidParam{Name: "body", Reason: `the request body is empty; send a JSON object such as {"indicator": "example.com"}`})
	}
	return body, nil
}

func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// parseLookupBody reads the JSON body of POST /v1/lookup and /v1/refresh:
// {"indicator", "type", "sections" (a list or a comma-separated string),
// "limit", "format", "cache_only"}. Every wrong member is reported, not just
// the first.
func parseLookupBody(body []byte) (lookupInput, error) {
	fields, err := decodeObject(body, `{"indicator": "example.com"}`)
	if err != nil {
		return lookupInput{}, err
	}
	if dups := duplicateKeys(body); len(dups) > 0 {
		return lookupInput{}, duplicatesError(dups)
	}
	return readLookup(jsonParams(fields), lookupParams)
}

// decodeObject reads a body that must hold exactly one JSON object.
func decodeObject(body []byte, example string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, invalid(lookup.InvalidParam{Name: "body", Reason: "the request body is not a JSON object; send one such as " + example})
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid(lookup.InvalidParam{Name: "body", Reason: "the request body holds more than one JSON value; send one object"})
	}
	return fields, nil
}

// duplicate is a member name given twice in one JSON object.
type duplicate struct {
	// path names the member from the top: "indicator",
	// "indicators[3].type".
	path string
	// top is the top-level member it is under, and item the index of the
	// element of that member's array it is in (-1 when it is not in one):
	// a batch fails only that item.
	top  string
	item int
}

// duplicateKeys lists the members given more than once in any object of a
// JSON document that is known to be well-formed. encoding/json keeps the
// last of them, so {"indicator":"a.com","indicator":"evil.com"} would look
// up what a proxy or log that kept the first never saw. It walks the
// tokens with an explicit stack, so nesting costs no Go stack.
func duplicateKeys(body []byte) []duplicate {
	type frame struct {
		keys      map[string]bool // nil for an array
		key       string          // the member being read
		index     int             // the element being read
		expectKey bool
	}
	var (
		stack []*frame
		dups  []duplicate
	)
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.keys != nil {
			f.expectKey = true
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return dups // io.EOF, or a syntax error the decoder already reported
		}
		if len(stack) > 0 {
			if f := stack[len(stack)-1]; f.keys != nil && f.expectKey {
				if tok == json.Delim('}') {
					stack = stack[:len(stack)-1]
					valueDone()
					continue
				}
				k, _ := tok.(string)
				if f.keys[k] {
					d := duplicate{item: -1}
					var b strings.Builder
					for i, g := range stack[:len(stack)-1] {
						if g.keys == nil {
							fmt.Fprintf(&b, "[%d]", g.index)
							if i == 1 {
								d.item = g.index
							}
							continue
						}
						if i > 0 {
							b.WriteByte('.')
						}
						b.WriteString(pathKey(g.key))
					}
					if b.Len() > 0 {
						b.WriteByte('.')
					}
					b.WriteString(pathKey(k))
					d.path = b.String()
					d.top = k
					if len(stack) > 1 {
						d.top = stack[0].key
					}
					dups = append(dups, d)
				}
				f.keys[k] = true
				f.key, f.expectKey = k, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// pathKey is a member name as a path shows it; "" would name nothing.
func pathKey(k string) string {
	if k == "" {
		return `""`
	}
	return k
}

func duplicatesError(dups []duplicate) error {
	var pe paramErrors
	for _, d := range dups {
		pe.add(d.path, "is given more than once; give each member once, since readers of the body disagree on which one counts")
	}
	return pe.err()
}
