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

// Parameter names, shared by the query string and the JSON body.
const (
	paramIndicator = "indicator"
	paramType      = "type"
	paramSections  = "sections"
	paramLimit     = "limit"
	paramFormat    = "format"
	paramCacheOnly = "cache_only"
)

// lookupParams lists the lookup parameters in the order problems report them.
func lookupParams() []string {
	return []string{paramIndicator, paramType, paramSections, paramLimit, paramFormat, paramCacheOnly}
}

// lookupInput is a lookup as the caller sent it, parsed but not validated
// by the lookup service.
type lookupInput struct {
	query  lookup.Query
	format string
}

// paramErrors collects every problem with a caller's input, so one answer
// lists them all.
type paramErrors []lookup.InvalidParam

func (pe *paramErrors) add(name, format string, args ...any) {
	*pe = append(*pe, lookup.InvalidParam{Name: name, Reason: fmt.Sprintf(format, args...)})
}

func (pe paramErrors) err() error {
	if len(pe) == 0 {
		return nil
	}
	return invalid(pe...)
}

// unknownParams reports every name not in known, sorted so the answer does
// not depend on map order.
func (pe *paramErrors) unknownParams(names []string, known []string) {
	sort.Strings(names)
	for _, n := range names {
		// "indicator=x&" or "&=" from sloppy URL building names nothing.
		if n != "" && !slices.Contains(known, n) {
			// A typo ("section", "count") would otherwise silently give the
			// defaults, which may cost quota for sections nobody wanted.
			pe.add(truncate(n, 64), "unknown parameter; use %s", strings.Join(known, ", "))
		}
	}
}

func parseQueryString(raw string) (url.Values, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalid(lookup.InvalidParam{Name: "query", Reason: "the query string is malformed; percent-encode special characters and separate parameters with &"})
	}
	return v, nil
}

// single returns the one value of a parameter that may appear only once.
func (pe *paramErrors) single(v url.Values, name string) string {
	vals := v[name]
	if len(vals) > 1 {
		pe.add(name, "give %s only once", name)
	}
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// splitSections reads section names from comma-separated values, so that
// "sections=A,B" and "sections=A&sections=B" mean the same.
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

func (pe *paramErrors) limit(s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		pe.add(paramLimit, "must be a whole number from %d to %d", lookup.MinLimit, lookup.MaxLimit)
		return 0
	}
	return pe.limitRange(n)
}

// limitRange rejects a limit the caller gave explicitly out of range; the
// service reads 0 as "the default", which an explicit 0 must not become.
func (pe *paramErrors) limitRange(n int) int {
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

func (pe *paramErrors) cacheOnly(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	}
	pe.add(paramCacheOnly, "must be true or false")
	return false
}

// parseLookupQuery reads GET /v1/lookup's query string.
func parseLookupQuery(raw string) (lookupInput, error) {
	v, err := parseQueryString(raw)
	if err != nil {
		return lookupInput{}, err
	}
	var pe paramErrors
	in := lookupInput{query: lookup.Query{
		Indicator: pe.single(v, paramIndicator),
		Type:      pe.single(v, paramType),
		Sections:  splitSections(v[paramSections]),
		Limit:     pe.limit(pe.single(v, paramLimit)),
	}}
	in.format = pe.format(pe.single(v, paramFormat))
	if pe.cacheOnly(pe.single(v, paramCacheOnly)) {
		in.query.Mode = lookup.CacheOnly
	}
	pe.unknownParams(keys(v), lookupParams())
	return in, pe.err()
}

// parsePurgeQuery reads DELETE /v1/cache's query string.
func parsePurgeQuery(raw string) (lookup.Query, error) {
	v, err := parseQueryString(raw)
	if err != nil {
		return lookup.Query{}, err
	}
	var pe paramErrors
	q := lookup.Query{
		Indicator: pe.single(v, paramIndicator),
		Type:      pe.single(v, paramType),
	}
	pe.unknownParams(keys(v), []string{paramIndicator, paramType})
	return q, pe.err()
}

func keys(v url.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	return out
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
// "limit", "format", "cache_only"}. Fields are read one by one so that every
// wrong one is reported, not just the first.
func parseLookupBody(body []byte) (lookupInput, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return lookupInput{}, invalid(lookup.InvalidParam{Name: "body", Reason: `the request body is not a JSON object; send one such as {"indicator": "example.com"}`})
	}
	if _, err := dec.Token(); err != io.EOF {
		return lookupInput{}, invalid(lookup.InvalidParam{Name: "body", Reason: "the request body holds more than one JSON value; send one object"})
	}

	var pe paramErrors
	var in lookupInput
	in.query.Indicator = pe.jsonString(fields, paramIndicator)
	in.query.Type = pe.jsonString(fields, paramType)
	in.query.Sections = pe.jsonSections(fields)
	in.query.Limit = pe.jsonLimit(fields)
	in.format = pe.format(pe.jsonString(fields, paramFormat))
	if pe.jsonBool(fields, paramCacheOnly) {
		in.query.Mode = lookup.CacheOnly
	}
	pe.unknownParams(mapKeys(fields), lookupParams())
	return in, pe.err()
}

func mapKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// present reports whether a field was sent with a value other than null,
// which callers building bodies from templates send for "not given".
func present(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

func (pe *paramErrors) jsonString(fields map[string]json.RawMessage, name string) string {
	raw, ok := present(fields, name)
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

func (pe *paramErrors) jsonSections(fields map[string]json.RawMessage) []string {
	raw, ok := present(fields, paramSections)
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

func (pe *paramErrors) jsonLimit(fields map[string]json.RawMessage) int {
	raw, ok := present(fields, paramLimit)
	if !ok {
		return 0
	}
	// A JSON number without fraction or exponent; "10" as a string is a
	// mistake worth telling the caller about.
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		pe.add(paramLimit, "must be a whole number from %d to %d", lookup.MinLimit, lookup.MaxLimit)
		return 0
	}
	return pe.limitRange(n)
}

func (pe *paramErrors) jsonBool(fields map[string]json.RawMessage, name string) bool {
	raw, ok := present(fields, name)
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
