// Package api owns tipgate's machine-readable HTTP contract, openapi.yaml,
// embedded so that the binary serves the document it was built against.
package api

import (
	_ "embed"
	"slices"
)

//go:embed openapi.yaml
var spec []byte

// Spec returns the OpenAPI document. Each call returns a fresh copy, so no
// caller can change what the next one sees.
func Spec() []byte { return slices.Clone(spec) }
