package httpapi

import (
	"net/http"

	"github.com/tipgate/tipgate/internal/apikey"
)

// anonymousName is the caller's name in GET /v1/me when authentication is
// off: there is no key to name, and every caller has every role.
const anonymousName = "anonymous"

// fallbackDefaultLimit is DESIGN.md's TIPGATE_DEFAULT_LIMIT default, told
// to clients when Options.DefaultLimit was left zero (tests, embedders).
const fallbackDefaultLimit = 10

// meResponse is the body of GET /v1/me: who the calling key is and what it
// may do, so that a client such as the console can offer only what works.
type meResponse struct {
	Name         string        `json:"name"`
	Roles        []apikey.Role `json:"roles"`
	DefaultLimit int           `json:"default_limit"`
}

// me answers GET /v1/me. require has put the caller's key in the context;
// with authentication off there is none and the caller has every role.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	body := meResponse{Name: anonymousName, Roles: apikey.AllRoles(), DefaultLimit: s.opts.DefaultLimit}
	if key, ok := apikey.FromContext(r.Context()); ok {
		body.Name, body.Roles = key.Name, key.Roles
	}
	if body.Roles == nil {
		body.Roles = []apikey.Role{}
	}
	if body.DefaultLimit == 0 {
		body.DefaultLimit = fallbackDefaultLimit
	}
	// The roles may change when the operator edits the keys file; a cached
	// answer would offer a button the key can no longer use.
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusOK, body)
}
