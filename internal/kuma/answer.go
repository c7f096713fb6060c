package kuma

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// The two verdicts of the contract.
const (
	resultDetected    = "detected"
	resultNotDetected = "not detected"
)

// answer is one element of a 200 body, in CyberTrace's shape.
type answer struct {
	Object string `json:"object"`
	Result string `json:"result"`
	// Categories is [] (never null) when nothing matched: KUMA reads the
	// element whatever its verdict.
	Categories []category `json:"categories"`
}

// category is a match. Its context holds strings only: KUMA writes it into
// the event's TI field as it is.
type category struct {
	Category          string            `json:"category"`
	DetectedIndicator string            `json:"detected_indicator"`
	Context           map[string]string `json:"context"`
}

// The context keys (issue 6, item 4).
const (
	ctxZone           = "zone"
	ctxCategories     = "categories"
	ctxThreatScore    = "threat_score"
	ctxHits           = "hits"
	ctxFirstSeen      = "first_seen"
	ctxLastSeen       = "last_seen"
	ctxDetectionNames = "detection_names"
	ctxReceivedAt     = "received_at"
	ctxCache          = "cache"
)

// timeLayout is the received_at format of tipgate's other answers.
const timeLayout = "2006-01-02T15:04:05.000Z"

// generalSection is the section of each type that holds the categories,
// hits, threat score and first/last seen dates (tip-api.md §2).
var generalSection = map[indicator.Type]string{
	indicator.Hash:   "FileGeneralInfo",
	indicator.IP:     "IpGeneralInfo",
	indicator.Domain: "DomainGeneralInfo",
	indicator.URL:    "UrlGeneralInfo",
}

// detectionsSection holds a hash's detection names.
const detectionsSection = "DetectionsInfo"

// contextSections are the sections a lookup asks for: the fewest that fill
// the context. Each is an object or an uncounted list, so the record limit
// never cuts what the context needs, and all of them come in the one TIP
// request a miss makes for Zone anyway.
func contextSections(t indicator.Type) []string {
	if t == indicator.Hash {
		return []string{generalSection[t], detectionsSection}
	}
	return []string{generalSection[t]}
}

// typeNames spell the types in category names, KTL_<Zone>_<Type>.
var typeNames = map[indicator.Type]string{
	indicator.Hash:   "Hash",
	indicator.IP:     "IP",
	indicator.Domain: "Domain",
	indicator.URL:    "URL",
}

// detectedZone returns the zone as category names spell it when it is a
// detection (Red, Orange, Yellow); Green, Grey and anything unknown are not.
func detectedZone(zone string) (string, bool) {
	switch strings.ToLower(zone) {
	case "red":
		return "Red", true
	case "orange":
		return "Orange", true
	case "yellow":
		return "Yellow", true
	}
	return "", false
}

func notDetected(object string) answer {
	return answer{Object: object, Result: resultNotDetected, Categories: []category{}}
}

// answerFor is the element for object, which res answered. The verdict
// comes from the zone alone; the context says what else is known.
func answerFor(object string, res *lookup.Result) answer {
	zone, ok := detectedZone(res.Zone)
	if !ok || !res.Found {
		return notDetected(object)
	}
	return answer{Object: object, Result: resultDetected, Categories: []category{{
		Category:          "KTL_" + zone + "_" + typeNames[res.Indicator.Type],
		DetectedIndicator: res.Indicator.Value,
		Context:           contextOf(res, zone),
	}}}
}

// generalInfo is what the context reads of a *GeneralInfo section. The
// scalars stay raw so that a number or a string, whichever TIP sends, is
// written as it came.
type generalInfo struct {
	Categories  []json.RawMessage `json:"Categories"`
	HitsCount   json.RawMessage   `json:"HitsCount"`
	ThreatScore json.RawMessage   `json:"ThreatScore"`
	FirstSeen   json.RawMessage   `json:"FirstSeen"`
	LastSeen    json.RawMessage   `json:"LastSeen"`
}

// contextOf fills the context from res. A key whose value is unknown (a
// section TIP did not return, a field it left out, an empty list) is
// omitted rather than sent empty, so a correlation rule can test for its
// presence.
func contextOf(res *lookup.Result, zone string) map[string]string {
	c := map[string]string{ctxZone: zone}
	set := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	if !res.ReceivedAt.IsZero() {
		set(ctxReceivedAt, res.ReceivedAt.UTC().Format(timeLayout))
	}
	set(ctxCache, string(res.Cache))

	var gi generalInfo
	if raw, ok := res.Section(generalSection[res.Indicator.Type]); ok && json.Unmarshal(raw, &gi) == nil {
		var cats []string
		for _, r := range gi.Categories {
			cats = appendDistinct(cats, scalar(r))
		}
		set(ctxCategories, strings.Join(cats, ","))
		set(ctxHits, scalar(gi.HitsCount))
		set(ctxThreatScore, scalar(gi.ThreatScore))
		set(ctxFirstSeen, scalar(gi.FirstSeen))
		set(ctxLastSeen, scalar(gi.LastSeen))
	}
	if raw, ok := res.Section(detectionsSection); ok {
		var dets []struct {
			DetectionName json.RawMessage `json:"DetectionName"`
		}
		if json.Unmarshal(raw, &dets) == nil {
			var names []string
			for _, d := range dets {
				names = appendDistinct(names, scalar(d.DetectionName))
			}
			set(ctxDetectionNames, strings.Join(names, ","))
		}
	}
	return c
}

// scalar writes a JSON string as its text and a number or boolean as its
// literal; null, absent, objects and arrays are "" (unknown).
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case '{', '[', 'n':
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return string(raw)
}

func appendDistinct(list []string, v string) []string {
	if v == "" {
		return list
	}
	for _, have := range list {
		if have == v {
			return list
		}
	}
	return append(list, v)
}

// retryAfterSeconds rounds up to whole seconds, at least one: a client that
// waits less would be refused again.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
