package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// timeLayout is RFC 3339 in UTC with exactly millisecond precision, so that
// every timestamp in an answer has the same width and sorts as text.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func (s *server) lookupGET(w http.ResponseWriter, r *http.Request) {
	in, err := parseLookupQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveLookup(w, r, in)
}

func (s *server) lookupPOST(w http.ResponseWriter, r *http.Request) {
	in, err := s.readLookupBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveLookup(w, r, in)
}

func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	in, err := s.readLookupBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.query.Mode == lookup.CacheOnly {
		s.writeError(w, r, invalid(lookup.InvalidParam{Name: paramCacheOnly,
			Reason: "cannot be true for a refresh, which always asks TIP; use POST /v1/lookup for a cache-only lookup"}))
		return
	}
	in.query.Mode = lookup.Refresh
	s.serveLookup(w, r, in)
}

func (s *server) readLookupBody(r *http.Request) (lookupInput, error) {
	body, err := readJSONBody(r)
	if err != nil {
		return lookupInput{}, err
	}
	return parseLookupBody(body)
}

func (s *server) serveLookup(w http.ResponseWriter, r *http.Request, in lookupInput) {
	req, err := s.opts.Service.Prepare(in.query)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := reqlog.FromContext(r.Context())
	e.SetIndicator(string(req.Indicator.Type), req.Indicator.Value)
	// Checked before the lookup so a build without flat output spends no
	// quota on an answer it cannot give.
	if in.format == formatFlat && s.opts.Flatten == nil {
		s.writeError(w, r, errNotImplemented("Flat output is not available in this build."))
		return
	}
	res, err := s.opts.Service.Lookup(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res == nil {
		s.writeError(w, r, errors.New("the lookup service returned no result and no error"))
		return
	}
	s.metrics.countResult(string(res.Indicator.Type), string(res.Cache))
	e.Cache = string(res.Cache)

	if in.format == formatFlat {
		h := w.Header()
		h.Set("X-Cache", strings.ToUpper(string(res.Cache)))
		h.Set("Age", strconv.FormatInt(s.age(res.ReceivedAt), 10))
		s.writeJSON(w, r, http.StatusOK, s.flatBody(res))
		return
	}
	s.writeAnswer(w, res)
}

// writeAnswer writes a lookup's 200 answer in one write from a pooled
// buffer, its headers from values built once.
func (s *server) writeAnswer(w http.ResponseWriter, res *lookup.Result) {
	buf := s.answers.get()
	*buf = append(appendLookup(*buf, res), '\n')
	h := w.Header()
	h["X-Cache"] = s.answers.xCache(res.Cache)
	h["Age"] = []string{strconv.FormatInt(s.age(res.ReceivedAt), 10)}
	writeBody(w, http.StatusOK, s.contentTypeJSON, *buf)
	s.answers.put(buf)
}

// flatBody is the flat form of a result: the KL* fields of Options.Flatten
// and how fresh they are.
func (s *server) flatBody(res *lookup.Result) map[string]any {
	flat := s.opts.Flatten(res)
	if flat == nil {
		flat = map[string]any{}
	}
	flat["received_at"] = formatTime(res.ReceivedAt)
	flat["cache"] = res.Cache
	if res.StaleReason != "" {
		flat["stale_reason"] = res.StaleReason
	}
	return flat
}

// age is the Age header: whole seconds since TIP sent the data, never
// negative even when clocks disagree.
func (s *server) age(received time.Time) int64 {
	if received.IsZero() {
		return 0
	}
	secs := int64(s.now().Sub(received) / time.Second)
	return max(secs, 0)
}
