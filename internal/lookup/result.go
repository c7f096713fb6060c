package lookup

import (
	"encoding/json"
	"strings"
	"time"
)

// result assembles an answer from the entries get finds for req's
// sections: lists cut to the limit (by the offsets stored with them, so
// nothing is parsed), received_at the oldest of what is returned.
func (s *Service) result(req Request, zone *entry, get func(name string) *entry, state CacheState, staleReason string) *Result {
	res := &Result{
		Indicator:   req.Indicator,
		Zone:        zoneOf(zone),
		Found:       true,
		Limit:       req.Limit,
		ReceivedAt:  zone.ReceivedAt,
		Cache:       state,
		StaleReason: staleReason,
	}
	if n := len(req.Sections); n <= len(res.inline) {
		res.Sections = res.inline[:0:n]
	} else {
		res.Sections = make([]Section, 0, n)
	}
	for _, name := range req.Sections {
		e := get(name)
		if e == nil || e.Data == nil {
			continue // TIP has nothing in this section for the object
		}
		res.Sections = append(res.Sections, Section{Name: name, ReceivedAt: e.ReceivedAt, data: e.Data, cut: e.cut(req.Limit)})
		if e.ReceivedAt.Before(res.ReceivedAt) {
			res.ReceivedAt = e.ReceivedAt
		}
	}
	return res
}

func (s *Service) notFound(req Request, zone *entry, state CacheState, staleReason string) *Result {
	return &Result{
		Indicator:   req.Indicator,
		Zone:        "Grey",
		Found:       false,
		Limit:       req.Limit,
		ReceivedAt:  zone.ReceivedAt,
		Cache:       state,
		StaleReason: staleReason,
	}
}

// localResult answers for the organisation's own indicators without TIP or
// the cache: TIP knows nothing of them, and asking would leak them.
func (s *Service) localResult(req Request) *Result {
	return &Result{
		Indicator:  req.Indicator,
		Zone:       "Grey",
		Found:      false,
		Limit:      req.Limit,
		ReceivedAt: s.now().UTC().Truncate(time.Millisecond),
		Cache:      CacheLocal,
	}
}

// canonicalZone reads TIP's Zone, accepting any case and the "Gray"
// spelling; an absent or unknown zone counts as Grey.
func canonicalZone(raw json.RawMessage) string {
	switch string(raw) { // what ask stores: no parsing on a hit
	case `"Red"`:
		return "Red"
	case `"Orange"`:
		return "Orange"
	case `"Yellow"`:
		return "Yellow"
	case `"Green"`:
		return "Green"
	case `"Grey"`:
		return "Grey"
	}
	var z string
	if err := json.Unmarshal(raw, &z); err != nil {
		return "Grey"
	}
	switch strings.ToLower(strings.TrimSpace(z)) {
	case "red":
		return "Red"
	case "orange":
		return "Orange"
	case "yellow":
		return "Yellow"
	case "green":
		return "Green"
	}
	return "Grey"
}

func zoneOf(e *entry) string {
	return canonicalZone(e.Data)
}
