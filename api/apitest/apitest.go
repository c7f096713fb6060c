// Package apitest checks real HTTP exchanges against api/openapi.yaml, so
// that handler tests and whole-gateway tests hold the running code to the
// published contract. It is imported by tests only.
package apitest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tipgate/tipgate/api"
)

// Contract is api/openapi.yaml, loaded and validated.
type Contract struct {
	router routers.Router
}

// Load loads and validates the spec, failing the test if it is not valid
// OpenAPI. The legacy router is kin-openapi's one without a gorilla/mux
// dependency.
func Load(t testing.TB) *Contract {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.Spec())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &Contract{router: router}
}

// FindRoute reports whether the spec has the request's method and path.
func (c *Contract) FindRoute(req *http.Request) error {
	_, _, err := c.router.FindRoute(req)
	return err
}

// Exchange is one request as sent and the response as received.
type Exchange struct {
	Method, Target string // Target is the path with its query
	Header         http.Header
	Body           []byte
	Status         int
	RespHeader     http.Header
	RespBody       []byte
}

// Check validates the request (reqErr) and the response (respErr) of ex
// against the spec. A route missing from the spec is a reqErr.
func (c *Contract) Check(ex Exchange) (reqErr, respErr error) {
	req, err := http.NewRequest(ex.Method, "http://tipgate.test"+ex.Target, bytes.NewReader(ex.Body))
	if err != nil {
		return err, nil
	}
	req.Header = ex.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	route, pathParams, err := c.router.FindRoute(req)
	if err != nil {
		return err, nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true},
	}
	reqErr = openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.Status,
		Header:                 ex.RespHeader,
		Body:                   io.NopCloser(bytes.NewReader(ex.RespBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	path, _, _ := strings.Cut(ex.Target, "?")
	switch path {
	case "/metrics", "/openapi.yaml":
		// kin-openapi cannot decode these bodies; check their media types.
		out.Options.ExcludeResponseBody = true
		want := map[string]string{"/metrics": "text/plain", "/openapi.yaml": "application/yaml"}[path]
		if ct := ex.RespHeader.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			return reqErr, errors.New("Content-Type " + ct + ", want " + want)
		}
	}
	return reqErr, openapi3filter.ValidateResponse(context.Background(), out)
}

// authenticate checks that a request carries what its security scheme asks
// for; whether the key is valid is the handler's business.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	switch in.SecuritySchemeName {
	case "bearerAuth":
		if strings.HasPrefix(strings.ToLower(h.Get("Authorization")), "bearer ") {
			return nil
		}
	case "apiKeyAuth":
		if h.Get("X-API-Key") != "" {
			return nil
		}
	case "basicAuth":
		if strings.HasPrefix(strings.ToLower(h.Get("Authorization")), "basic ") {
			return nil
		}
	}
	return errors.New("no credentials for " + in.SecuritySchemeName)
}
