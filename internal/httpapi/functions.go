package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// function serves GET /v1/functions/{name}: one of the SIEM plugin's
// functions, a lookup whose type and sections the function fixes, answered
// in flat form, so that a SIEM that called the plugin switches by changing
// one URL. The fixed type means get_url_report?indicator=example.com looks
// up the URL example.com, and a value that cannot be of the type is a 400.
func (s *server) function(w http.ResponseWriter, r *http.Request) {
	if len(s.functions) == 0 || s.opts.Flatten == nil {
		s.writeError(w, r, errNotImplemented("The SIEM plugin's functions are not available in this build."))
		return
	}
	name := chi.URLParam(r, "name")
	fn, ok := s.functions[name]
	if !ok {
		s.writeError(w, r, newStatusError(http.StatusNotFound, typeNotFound, "Not found",
			fmt.Sprintf("There is no function %s; the functions are %s.", strconv.Quote(truncate(name, maxParamName)), strings.Join(s.functionNames(), ", "))))
		return
	}
	in, err := parseFunctionQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in.query.Type = string(fn.Type)
	in.query.Sections = fn.Sections
	s.serveLookup(w, r, in)
}

// functionNames lists the functions in Options order.
func (s *server) functionNames() []string {
	names := make([]string, 0, len(s.opts.Functions))
	for _, f := range s.opts.Functions {
		names = append(names, f.Name)
	}
	return names
}
