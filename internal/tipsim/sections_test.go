package tipsim

import (
	"slices"
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// TestSectionsAgreeWithClient is the one place the simulator's section list
// meets the client's catalog (tip.Catalog). They are kept apart so that a
// mistake in one is not copied into the other unseen; this test says when
// they drift. When it fails, check shared/tip-api.md §2 to see which one is
// wrong and fix it; a difference that is meant goes in knownDifferences with
// its reason.
func TestSectionsAgreeWithClient(t *testing.T) {
	// knownDifferences maps "type/Section" to why the simulator
	// deliberately differs from the client there. None today.
	knownDifferences := map[string]string{}

	// shape is what both lists say about a section. The client's Default
	// is its own policy, not TIP's, and is not compared.
	type shape struct{ list, uncounted bool }
	describe := func(s shape, ok bool) string {
		switch {
		case !ok:
			return "no such section"
		case !s.list:
			return "an object"
		case s.uncounted:
			return "an uncounted list"
		}
		return "a list"
	}
	cat := tip.NewCatalog()
	for _, typ := range indicator.Types() {
		sim, client := map[string]shape{}, map[string]shape{}
		var simOrder, clientOrder []string
		for _, s := range newCatalog()[typ] {
			sim[s.name] = shape{s.list, s.uncounted}
			simOrder = append(simOrder, s.name)
		}
		for _, s := range cat.All(typ) {
			client[s.Name] = shape{s.Kind == tip.List, s.Uncounted}
			clientOrder = append(clientOrder, s.Name)
		}
		differ := false
		for _, name := range slices.Compact(slices.Sorted(slices.Values(slices.Concat(simOrder, clientOrder)))) {
			s, inSim := sim[name]
			c, inClient := client[name]
			if inSim == inClient && s == c {
				continue
			}
			if why := knownDifferences[string(typ)+"/"+name]; why != "" {
				t.Logf("%s %s differs on purpose: %s", typ, name, why)
				continue
			}
			differ = true
			t.Errorf("%s %s: in the simulator %s, in the client's catalog %s", typ, name, describe(s, inSim), describe(c, inClient))
		}
		// The simulator answers in its order; the same order keeps the two
		// lists easy to compare by eye.
		if !differ && len(knownDifferences) == 0 && !slices.Equal(simOrder, clientOrder) {
			t.Errorf("%s: the order differs:\nsimulator %q\nclient    %q", typ, simOrder, clientOrder)
		}
	}
	if got := len(newCatalog()); got != len(indicator.Types()) {
		t.Errorf("the simulator lists sections for %d types, want %d", got, len(indicator.Types()))
	}
}
