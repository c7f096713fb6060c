package api

import (
	"bytes"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestSpecIsValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	for _, path := range []string{"/v1/lookup", "/v1/lookup/batch", "/v1/functions/{name}", "/api/{version}/lookup", "/api/1.3/{tenant}/lookup", "/v1/refresh", "/v1/sections", "/v1/me", "/v1/status", "/v1/cache", "/healthz", "/readyz", "/metrics", "/openapi.yaml", "/ui", "/ui/"} {
		if doc.Paths.Value(path) == nil {
			t.Errorf("openapi.yaml has no path %s", path)
		}
	}
}

func TestSpecReturnsACopy(t *testing.T) {
	a := Spec()
	a[0] = 'X'
	if b := Spec(); bytes.Equal(a, b) {
		t.Error("changing the slice Spec returned changed the embedded document")
	}
}
