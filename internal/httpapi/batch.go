package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// zoneSection is TIP's Zone section: always fetched and reported at the top
// level, so a batch item whose type none of the named sections fits still
// gets its zone.
const zoneSection = "Zone"

// batchRequest is a parsed POST /v1/lookup/batch body.
type batchRequest struct {
	// shared holds the sections, limit, format and cache_only of every item.
	shared lookupInput
	items  []batchEntry
}

// batchEntry is one element of a batch's indicators.
type batchEntry struct {
	// input is the indicator as given, echoed in the item's result so that
	// a playbook can match results to what it sent; for an element that is
	// not even a string, its JSON, cut short.
	input string
	query lookup.Query
	// err is the element's own problem; the rest of the batch goes on.
	err error
}

// parseBatchBody reads {"indicators": [...], "sections", "limit", "format",
// "cache_only"}: each indicator a string or {"indicator", "type"}. A problem
// with the batch as a whole (its shape, a shared parameter, more than
// MaxBatchItems indicators) is the error; a problem with one element is
// that element's.
func parseBatchBody(body []byte) (batchRequest, error) {
	fields, err := decodeObject(body, `{"indicators": ["example.com", "1.2.3.4"]}`)
	if err != nil {
		return batchRequest{}, err
	}
	itemDups := map[int][]duplicate{}
	var batchDups []duplicate
	for _, d := range duplicateKeys(body) {
		if d.top == paramIndicators && d.item >= 0 {
			itemDups[d.item] = append(itemDups[d.item], d)
		} else {
			batchDups = append(batchDups, d)
		}
	}
	if len(batchDups) > 0 {
		return batchRequest{}, duplicatesError(batchDups)
	}

	var pe paramErrors
	var list []json.RawMessage
	p := jsonParams(fields)
	if raw, ok := p.raw(paramIndicators); !ok {
		pe.add(paramIndicators, `is required: a list of up to %d indicators, each a string or {"indicator": "…", "type": "…"}`, MaxBatchItems)
	} else if err := json.Unmarshal(raw, &list); err != nil {
		pe.add(paramIndicators, `must be a list of indicators, each a string or {"indicator": "…", "type": "…"}`)
	} else if len(list) == 0 {
		pe.add(paramIndicators, "is empty; give from 1 to %d indicators", MaxBatchItems)
	}
	if len(list) > MaxBatchItems {
		return batchRequest{}, newStatusError(http.StatusRequestEntityTooLarge, typePayloadTooLarge, "Payload too large",
			fmt.Sprintf("The batch has %d indicators; at most %d are looked up in one batch. Split it into batches of %d or fewer; nothing was sent to TIP.",
				len(list), MaxBatchItems, MaxBatchItems))
	}
	br := batchRequest{shared: pe.read(p, batchParams)}
	if err := pe.err(); err != nil {
		return batchRequest{}, err
	}
	br.items = make([]batchEntry, len(list))
	for i, el := range list {
		br.items[i] = parseBatchItem(i, el, itemDups[i])
	}
	return br, nil
}

func parseBatchItem(i int, el json.RawMessage, dups []duplicate) batchEntry {
	var s string
	if err := json.Unmarshal(el, &s); err == nil {
		return batchEntry{input: s, query: lookup.Query{Indicator: s}}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(el, &fields); err != nil || fields == nil {
		return batchEntry{input: truncate(string(el), maxParamName), err: invalid(lookup.InvalidParam{
			Name:   fmt.Sprintf("%s[%d]", paramIndicators, i),
			Reason: `must be a string or an object {"indicator": "…", "type": "…"}`,
		})}
	}
	in, err := readLookup(jsonParams(fields), batchItemKeys)
	e := batchEntry{input: in.query.Indicator, query: in.query, err: err}
	if len(dups) > 0 {
		e.err = duplicatesError(dups)
	}
	return e
}

// batchLookupResult is one answered item of a batch in JSON form: the
// lookup response, whose indicator is the normalised form, and the
// indicator as the caller gave it.
type batchLookupResult struct {
	Input  string
	Result *lookup.Result
}

// MarshalJSON writes the item as appendLookup does, with the input first.
func (b batchLookupResult) MarshalJSON() ([]byte, error) {
	out := append(appendString([]byte(`{"input":`), b.Input), ',')
	return append(appendLookupFields(out, b.Result), '}'), nil
}

// batchErrorResult is one item of a batch that has no answer.
type batchErrorResult struct {
	Input string `json:"input"`
	// Indicator is the indicator as given too: there is no normalised form
	// of one that could not be looked up.
	Indicator string  `json:"indicator"`
	Error     problem `json:"error"`
}

// batchResponse is the 200 body of a batch.
type batchResponse struct {
	Results []any `json:"results"`
}

func (s *server) lookupBatch(w http.ResponseWriter, r *http.Request) {
	body, err := readJSONBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	br, err := parseBatchBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if br.shared.format == formatFlat && s.opts.Flatten == nil {
		s.writeError(w, r, errNotImplemented("Flat output is not available in this build."))
		return
	}
	if err := s.checkBatchSections(br.shared.query.Sections); err != nil {
		s.writeError(w, r, err)
		return
	}

	reqlog.FromContext(r.Context()).Indicators = len(br.items)
	results := make([]any, len(br.items))
	failed := batchFailures{}
	var (
		reqs []lookup.Request
		at   []int // at[k] is the item that reqs[k] answers
	)
	for i, it := range br.items {
		if it.err == nil {
			req, err := s.prepareBatchItem(it.query, br.shared.query)
			if err == nil {
				reqs = append(reqs, req)
				at = append(at, i)
				continue
			}
			it.err = err
		}
		results[i] = s.batchError(r, it.input, it.err, failed)
	}
	if len(reqs) > 0 {
		answers := s.opts.Service.LookupBatch(r.Context(), reqs)
		if len(answers) != len(reqs) {
			s.writeError(w, r, fmt.Errorf("the lookup service answered %d of a batch's %d requests", len(answers), len(reqs)))
			return
		}
		for k, a := range answers {
			i := at[k]
			switch {
			case a.Err != nil:
				results[i] = s.batchError(r, br.items[i].input, a.Err, failed)
			case a.Result == nil:
				results[i] = s.batchError(r, br.items[i].input, errors.New("the lookup service returned no result and no error"), failed)
			default:
				s.metrics.countResult(string(a.Result.Indicator.Type), string(a.Result.Cache))
				results[i] = s.batchResult(br.items[i].input, a.Result, br.shared.format)
			}
		}
	}
	failed.log(s, r)
	s.writeJSON(w, r, http.StatusOK, batchResponse{Results: results})
}

// checkBatchSections rejects the whole batch when a shared section name
// belongs to no type: a typo would otherwise be reported, or silently
// skipped, item by item.
func (s *server) checkBatchSections(names []string) error {
	var pe paramErrors
	for _, n := range names {
		lower := strings.ToLower(n)
		switch {
		case lower == strings.ToLower(zoneSection):
		case lower == "licenseinfo":
			pe.add(paramSections, "LicenseInfo is not returned to callers; GET /v1/status shows the TIP quota.")
		case !s.anyType(lower):
			pe.add(paramSections, "%q is not a TIP section of any type; GET /v1/sections lists the valid ones.", truncate(n, maxParamName))
		}
	}
	return pe.err()
}

func (s *server) anyType(lower string) bool {
	for _, names := range s.catalog {
		if _, ok := names[lower]; ok {
			return true
		}
	}
	return false
}

// prepareBatchItem validates one item with the batch's shared parameters.
// The shared sections may name sections of several types, since a batch
// mixes them: each item gets those of its own type, and only its zone when
// none are.
func (s *server) prepareBatchItem(item, shared lookup.Query) (lookup.Request, error) {
	q := lookup.Query{Indicator: item.Indicator, Type: item.Type, Limit: shared.Limit, Mode: shared.Mode}
	if len(shared.Sections) == 0 {
		return s.opts.Service.Prepare(q)
	}
	first, err := s.opts.Service.Prepare(q)
	if err != nil {
		return lookup.Request{}, err
	}
	t := first.Indicator.Type
	q.Type = string(t)
	q.Sections = s.sectionsOf(t, shared.Sections)
	return s.opts.Service.Prepare(q)
}

// sectionsOf keeps the names that are sections of type t, or only Zone.
func (s *server) sectionsOf(t indicator.Type, names []string) []string {
	var out []string
	for _, n := range names {
		if canonical, ok := s.catalog[t][strings.ToLower(n)]; ok {
			out = append(out, canonical)
		}
	}
	if len(out) == 0 {
		return []string{zoneSection}
	}
	return out
}

func (s *server) batchResult(input string, res *lookup.Result, format string) any {
	if format != formatFlat {
		return batchLookupResult{Input: input, Result: res}
	}
	flat := s.flatBody(res)
	flat["input"] = input
	flat["indicator"] = res.Indicator.Value
	flat["type"] = res.Indicator.Type
	return flat
}

func (s *server) batchError(r *http.Request, input string, err error, failed batchFailures) batchErrorResult {
	p, log, level := s.problemFor(r, err)
	if log {
		failed.add(p.Type, level, err)
	}
	return batchErrorResult{Input: input, Indicator: input, Error: bounded(p)}
}

// batchFailures gathers the failures of a batch's items that are worth
// logging, so that a batch of a thousand failing items logs one line.
type batchFailures map[string]*batchFailure

type batchFailure struct {
	count int
	level slog.Level
	first error
}

func (f batchFailures) add(typ string, level slog.Level, err error) {
	if g := f[typ]; g != nil {
		g.count++
		g.level = max(g.level, level)
		return
	}
	f[typ] = &batchFailure{count: 1, level: level, first: err}
}

func (f batchFailures) log(s *server, r *http.Request) {
	for typ, g := range f {
		s.logger(r).Log(r.Context(), g.level, "batch items failed", "problem", typ, "items", g.count, "err", g.first)
	}
}
