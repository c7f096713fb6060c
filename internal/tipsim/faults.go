package tipsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Fault makes the simulator misbehave, for tests of everything that must
// survive a misbehaving TIP. A fault applies to the lookups it matches, before
// method, authentication and input checks, as a failing proxy or front end
// would:
//
//   - Delay only: the answer is late but otherwise normal;
//   - Status: the answer is that status with Body (default: a small JSON
//     error object), after Delay if any;
//   - Hang: no answer at all until the client gives up or the server closes.
//
// In JSON (the admin endpoint) Delay is a duration string such as "1.5s".
type Fault struct {
	Status      int           `json:"status,omitempty"`
	Body        string        `json:"body,omitempty"`
	ContentType string        `json:"content_type,omitempty"` // default application/json
	Delay       time.Duration `json:"-"`
	Hang        bool          `json:"hang,omitempty"`
	// Times is how many matching lookups the fault answers before it is
	// removed; 0 means until ClearFaults.
	Times int `json:"times,omitempty"`
	// Type and Value, when set, restrict the fault to lookups of that type or
	// of that value (compared case-insensitively, percent-decoded).
	Type  indicator.Type `json:"type,omitempty"`
	Value string         `json:"value,omitempty"`
}

// plainFault is Fault without its JSON methods, so that they can encode the
// other fields the default way.
type plainFault Fault

// faultJSON is a Fault with Delay as a duration string; its Delay hides the
// embedded one.
type faultJSON struct {
	plainFault
	Delay string `json:"delay,omitempty"`
}

// MarshalJSON writes Delay as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{plainFault: plainFault(f)}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return marshal(j)
}

// UnmarshalJSON reads Delay as a duration string. Unknown keys are an error,
// so that a misspelt field does not silently inject a different fault.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*f = Fault(j.plainFault)
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil || d < 0 {
			return fmt.Errorf("delay %q is not a duration such as 500ms or 2s", j.Delay)
		}
		f.Delay = d
	}
	return nil
}

// validate says what is wrong with a fault, in words for the person who
// injected it.
func (f Fault) validate() error {
	if f.Status != 0 && (f.Status < 100 || f.Status > 999) {
		return fmt.Errorf("status %d is not an HTTP status", f.Status)
	}
	if f.Status == 0 && f.Delay == 0 && !f.Hang {
		return fmt.Errorf("the fault does nothing: give a status, a delay or hang")
	}
	if f.Times < 0 {
		return fmt.Errorf("times must be 0 (until cleared) or more")
	}
	switch f.Type {
	case "", indicator.Hash, indicator.IP, indicator.Domain, indicator.URL:
	default:
		return fmt.Errorf("type %q is not hash, ip, domain or url", f.Type)
	}
	return nil
}

// Inject adds a fault. Faults are tried in the order they were injected; the
// first that matches a lookup applies.
func (s *Sim) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, left: f.Times})
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault finds the fault that applies to l and counts it down.
func (s *Sim) takeFault(l lookup) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Type != "" && f.Type != l.typ || f.Value != "" && !strings.EqualFold(f.Value, l.value) {
			continue
		}
		if f.Times > 0 {
			if f.left--; f.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault acts out a fault. done means the fault settled the request
// (otherwise normal handling continues, late); answered means something was
// sent.
func (s *Sim) applyFault(w http.ResponseWriter, r *http.Request, f Fault) (done, answered bool) {
	if !sleep(r.Context(), f.Delay) {
		return true, false
	}
	if f.Hang {
		<-r.Context().Done()
		return true, false
	}
	if f.Status == 0 {
		return false, false
	}
	body, ct := f.Body, f.ContentType
	if body == "" {
		b, _ := marshal(map[string]any{"status": f.Status, "error": "injected_fault", "message": http.StatusText(f.Status)})
		body, ct = string(b), "application/json"
	}
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
	return true, true
}
