package tipsim

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
)

//go:embed fixtures/*.json
var fixtureFS embed.FS

// Fixture indicators: real TIP answers (fixtures/README.md) are served for
// them, section by section, with generated data for the sections they lack.
const (
	FixtureMD5    = "3935aae80faf8d03781c2d611a4e183f"
	FixtureSHA1   = "772f35212c973bb7552277594f1785480b4b64a1"
	FixtureSHA256 = "2539170c4c1ffeeb17e87917687b5f86104cc88de9478696cee6e0ecaddfc9bb"
	FixtureIP     = "39.90.148.83"
	FixtureDomain = "tetegrams.org"
	FixtureURL    = "gsocket.io/x"
)

// fixture names one embedded answer.
type fixture string

// fixtureFor finds the fixture of a canonical indicator.
func fixtureFor(t indicator.Type, v string) (fixture, bool) {
	switch {
	case t == indicator.Hash && (v == FixtureMD5 || v == FixtureSHA1 || v == FixtureSHA256):
		return "fixtures/file.json", true
	case t == indicator.IP && v == FixtureIP:
		return "fixtures/ipv4.json", true
	case t == indicator.Domain && v == FixtureDomain:
		return "fixtures/domain.json", true
	case t == indicator.URL && strings.EqualFold(v, FixtureURL):
		return "fixtures/url.json", true
	}
	return "", false
}

// sections reads the fixture's top-level sections, raw. The files are small
// and requested rarely, so they are read on demand rather than held.
func (f fixture) sections() (map[string]json.RawMessage, error) {
	data, err := fixtureFS.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("read fixture %s: %w", f, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("fixture %s is not a JSON object: %w", f, err)
	}
	return m, nil
}

func fixtureZone(sections map[string]json.RawMessage) (string, bool) {
	var z string
	if err := json.Unmarshal(sections["Zone"], &z); err != nil || z == "" {
		return "", false
	}
	return z, true
}
