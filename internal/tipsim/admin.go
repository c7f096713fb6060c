package tipsim

import (
	"encoding/json"
	"io"
	"net/http"
)

// AdminHandler is the simulator's control API, served over plain HTTP on a
// separate loopback listener by cmd/tipsim so that scripts and other processes
// can do what tests do through the Go API:
//
//	GET    /requests  {"count": N, "log": [Request…]}
//	POST   /faults    a Fault as JSON, e.g. {"status": 503, "times": 2} or {"delay": "3s", "type": "url"}
//	DELETE /faults    remove every fault
//	POST   /reset     clear the request count, log and day counter
func AdminHandler(sim *Sim) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"count": sim.Requests(), "log": sim.Log()})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not a fault: " + err.Error()})
			return
		}
		if err := f.validate(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sim.Inject(f)
		writeJSON(w, http.StatusCreated, f)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		sim.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		sim.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
