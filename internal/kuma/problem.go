package kuma

import (
	"encoding/json"
	"net/http"
)

// problem is an RFC 9457 problem details body, the house style for every
// answer the CyberTrace contract does not shape (it documents only the 200
// array). Type is a short relative reference callers may switch on.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func writeProblem(w http.ResponseWriter, p problem) {
	b, err := json.Marshal(p)
	if err != nil {
		// A problem holds only strings and an int; this cannot happen.
		http.Error(w, p.Detail, p.Status)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
