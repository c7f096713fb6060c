package lookup

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// Prepare validates a query into a Request, reporting every bad parameter.
func (s *Service) Prepare(q Query) (Request, error) {
	var bad []InvalidParam
	t, err := indicator.ParseType(q.Type)
	if err != nil {
		bad = append(bad, InvalidParam{Name: "type", Reason: reason(err)})
	}
	var ind indicator.Indicator
	switch {
	case strings.TrimSpace(q.Indicator) == "":
		bad = append(bad, InvalidParam{Name: "indicator", Reason: "indicator is required: give a file hash, an IPv4 address, a domain or a URL."})
	case err == nil:
		if ind, err = indicator.Parse(q.Indicator, t); err != nil {
			bad = append(bad, InvalidParam{Name: "indicator", Reason: reason(err)})
		}
	}
	limit := q.Limit
	if limit == 0 {
		limit = s.defaultLimit
	}
	if limit < MinLimit || limit > MaxLimit {
		bad = append(bad, InvalidParam{Name: "limit", Reason: fmt.Sprintf("limit must be a whole number from %d to %d; got %d.", MinLimit, MaxLimit, q.Limit)})
	}
	var sections []string
	if ind.Type != "" {
		var sbad []InvalidParam
		sections, sbad = s.sections(ind.Type, q.Sections)
		bad = append(bad, sbad...)
	}
	if len(bad) > 0 {
		return Request{}, &InvalidError{Params: bad}
	}
	return Request{Indicator: ind, Sections: sections, Limit: limit, Mode: q.Mode}, nil
}

// sections resolves requested names to canonical ones in catalog order.
// No names means the type's defaults; Zone is accepted and left out because
// it is always reported at the top level. It allocates one slice, or none
// for the defaults (shared, and clipped so that an append copies).
func (s *Service) sections(t indicator.Type, names []string) ([]string, []InvalidParam) {
	var bad []InvalidParam
	var buf [16]string // the canonical names asked for; on the stack
	want := buf[:0]
	asked := false
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		asked = true
		sec, ok := s.catalog.Find(t, n)
		switch {
		case !ok:
			bad = append(bad, InvalidParam{Name: "sections", Reason: fmt.Sprintf("%q is not a TIP section for type %s; GET /v1/sections lists the valid ones.", truncate(n, 64), t)})
		case sec.Name == tip.SectionLicense:
			bad = append(bad, InvalidParam{Name: "sections", Reason: "LicenseInfo is not returned to callers; GET /v1/status shows the TIP quota."})
		case sec.Name != tip.SectionZone && !slices.Contains(want, sec.Name):
			want = append(want, sec.Name)
		}
	}
	if !asked {
		return s.defaults[t], bad // never Zone or LicenseInfo
	}
	out := make([]string, 0, len(want))
	for _, sec := range s.order[t] {
		if slices.Contains(want, sec.Name) {
			out = append(out, sec.Name)
		}
	}
	return out, bad
}

// SectionInfo describes one section a caller may ask for.
type SectionInfo struct {
	Name string
	// Kind is "object" or "list": a record limit applies to lists only.
	Kind string
	// Default sections are returned when a caller names none.
	Default bool
}

// Sections lists what a caller may ask for about an indicator of type t, in
// TIP's order; Zone and LicenseInfo, which are never returned inside
// sections, are left out.
func (s *Service) Sections(t indicator.Type) []SectionInfo {
	var out []SectionInfo
	for _, sec := range s.catalog.Lookup(t) {
		out = append(out, SectionInfo{Name: sec.Name, Kind: string(sec.Kind), Default: sec.Default})
	}
	return out
}

func reason(err error) string {
	var ie *indicator.Error
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
