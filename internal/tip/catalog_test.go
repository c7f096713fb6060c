package tip

import (
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
)

func TestCatalog(t *testing.T) {
	cat := NewCatalog()
	for _, typ := range indicator.Types() {
		t.Run(string(typ), func(t *testing.T) {
			all := cat.All(typ)
			if len(all) == 0 {
				t.Fatal("no sections")
			}
			seen := map[string]bool{}
			for _, s := range all {
				if seen[s.Name] {
					t.Errorf("section %s listed twice", s.Name)
				}
				seen[s.Name] = true
				if s.Kind != Object && s.Kind != List {
					t.Errorf("section %s has kind %q, want object or list", s.Name, s.Kind)
				}
				if s.Uncounted && s.Kind != List {
					t.Errorf("section %s is uncounted but not a list", s.Name)
				}
			}
			for _, name := range []string{SectionZone, SectionLicense} {
				if !seen[name] {
					t.Errorf("All lacks %s", name)
				}
				if got, ok := cat.Find(typ, name); !ok || got.Name != name {
					t.Errorf("Find(%s) = %v, %v; want the section", name, got, ok)
				}
			}
			for _, s := range cat.Lookup(typ) {
				if s.Name == SectionZone || s.Name == SectionLicense {
					t.Errorf("Lookup includes %s, want it left out", s.Name)
				}
			}
			for _, name := range cat.Defaults(typ) {
				if name == SectionZone || name == SectionLicense {
					t.Errorf("Defaults includes %s, want it left out", name)
				}
			}
			if got, ok := cat.Find(typ, "zONE"); !ok || got.Name != SectionZone {
				t.Errorf("Find(zONE) = %v, %v; want Zone", got, ok)
			}
			if _, ok := cat.Find(typ, "NoSuchSection"); ok {
				t.Error("Find(NoSuchSection) found a section")
			}
			all[0].Name = "changed"
			if cat.All(typ)[0].Name == "changed" {
				t.Error("All returned the catalog's own slice")
			}
		})
	}
}

func TestCatalogUncounted(t *testing.T) {
	cat := NewCatalog()
	for _, name := range []string{"DetectionsInfo", "FileParentCertificates"} {
		s, ok := cat.Find(indicator.Hash, name)
		if !ok || !s.Uncounted {
			t.Errorf("Find(hash, %s) = %+v, %v; want an uncounted list", name, s, ok)
		}
	}
	if s, ok := cat.Find(indicator.Hash, "FileNames"); !ok || s.Uncounted || s.Kind != List {
		t.Errorf("Find(hash, FileNames) = %+v, %v; want a counted list", s, ok)
	}
}
