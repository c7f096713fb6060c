package lookup

import (
	"encoding/json"
	"strings"
	"time"
)

// result assembles an answer: lists cut to the limit, received_at the
// oldest of what is returned.
func (s *Service) result(req Request, zone *entry, entries map[string]*entry, state CacheState, staleReason string) *Result {
	res := &Result{
		Indicator:          req.Indicator,
		Zone:               zoneOf(zone),
		Found:              true,
		Limit:              req.Limit,
		Sections:           make(map[string]json.RawMessage, len(entries)),
		SectionsReceivedAt: make(map[string]time.Time, len(entries)),
		ReceivedAt:         zone.ReceivedAt,
		Cache:              state,
		StaleReason:        staleReason,
	}
	for _, name := range req.Sections {
		e := entries[name]
		if e == nil || e.Data == nil {
			continue // TIP has nothing in this section for the object
		}
		data := e.Data
		if e.Count > req.Limit {
			data = cutList(data, req.Limit)
		}
		res.Sections[name] = data
		res.SectionsReceivedAt[name] = e.ReceivedAt
		if e.ReceivedAt.Before(res.ReceivedAt) {
			res.ReceivedAt = e.ReceivedAt
		}
	}
	return res
}

func (s *Service) notFound(req Request, zone *entry, state CacheState, staleReason string) *Result {
	return &Result{
		Indicator:          req.Indicator,
		Zone:               "Grey",
		Found:              false,
		Limit:              req.Limit,
		Sections:           map[string]json.RawMessage{},
		SectionsReceivedAt: map[string]time.Time{},
		ReceivedAt:         zone.ReceivedAt,
		Cache:              state,
		StaleReason:        staleReason,
	}
}

// localResult answers for the organisation's own indicators without TIP or
// the cache: TIP knows nothing of them, and asking would leak them.
func (s *Service) localResult(req Request) *Result {
	return &Result{
		Indicator:          req.Indicator,
		Zone:               "Grey",
		Found:              false,
		Limit:              req.Limit,
		Sections:           map[string]json.RawMessage{},
		SectionsReceivedAt: map[string]time.Time{},
		ReceivedAt:         s.now().UTC().Truncate(time.Millisecond),
		Cache:              CacheLocal,
	}
}

// canonicalZone reads TIP's Zone, accepting any case and the "Gray"
// spelling; an absent or unknown zone counts as Grey.
func canonicalZone(raw json.RawMessage) string {
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
