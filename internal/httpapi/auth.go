package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/reqlog"
)

func errUnauthorized(detail string) error {
	return newStatusError(http.StatusUnauthorized, typeUnauthorized, "Unauthorized", detail)
}

// presentedKey finds the caller's key in Authorization: Bearer or X-API-Key.
// It returns a problem when the headers are there but unusable, so the
// caller learns which header is wrong.
func presentedKey(r *http.Request) (string, error) {
	var bearer string
	// Written canonically: Header.Get allocates the canonical form of a
	// name that is not.
	apiKey := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, _ := strings.Cut(auth, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			bearer = strings.TrimSpace(token)
		case apiKey == "":
			// Another scheme may belong to a proxy in front when X-API-Key
			// is there; alone, it is the caller's mistake.
			return "", errUnauthorized(`The Authorization header must use the Bearer scheme: send "Authorization: Bearer <key>" or "X-API-Key: <key>".`)
		}
	}
	switch {
	case bearer != "" && apiKey != "" && bearer != apiKey:
		return "", errUnauthorized("The Authorization and X-API-Key headers carry different keys; send the key in one of them.")
	case bearer != "":
		return bearer, nil
	case apiKey != "":
		return apiKey, nil
	}
	return "", errUnauthorized(`No API key was sent; send "Authorization: Bearer <key>" or "X-API-Key: <key>".`)
}

// require lets a request through only with a known key that grants role.
// With no keyring, authentication is off and every caller has every role.
func (s *server) require(role apikey.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.opts.Keys == nil {
				next.ServeHTTP(w, r)
				return
			}
			text, err := presentedKey(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			key, ok := s.opts.Keys.Identify(text)
			if !ok {
				s.writeError(w, r, errUnauthorized("The API key is not recognised; check it, or ask the operator for a key."))
				return
			}
			// The name, never the key, goes to the access log.
			reqlog.FromContext(r.Context()).Key = key.Name
			if !key.Has(role) {
				s.writeError(w, r, newStatusError(http.StatusForbidden, typeForbidden, "Forbidden",
					fmt.Sprintf("The API key %q lacks the %q role that %s %s needs; ask the operator to grant it.",
						key.Name, role, r.Method, r.URL.Path)))
				return
			}
			// The key travels with the request so that the upstream layers
			// can charge its TIP requests to its own daily budget: in serve's
			// context, which carries it without a copy of the request, or
			// else in one of its own.
			if c, ok := r.Context().(*requestContext); ok {
				c.key = key
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(apikey.NewContext(r.Context(), *key)))
		})
	}
}
