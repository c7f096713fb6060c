package config

import "strings"

// Problem is one thing wrong with the configuration: the variable to change
// and what is wrong with it. Msg never holds a secret's value.
type Problem struct {
	Var string // the variable to fix, e.g. TIPGATE_TIP_PFX_PASSWORD
	Msg string // what is wrong, a sentence a person can act on
	Err error  // the underlying cause, if any, for errors.Is and errors.As
}

// Error reads "VARIABLE: what is wrong".
func (p Problem) Error() string { return p.Var + ": " + p.Msg }

// Unwrap returns the underlying cause, if any.
func (p Problem) Unwrap() error { return p.Err }

// Problems is every problem Load found, in the order the variables are
// checked. Reporting them all at once spares an operator one restart per
// mistake.
type Problems struct {
	List []Problem
}

// Error is one problem per line, each starting with its variable's name.
func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, pr := range p.List {
		lines[i] = pr.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem and its cause.
func (p *Problems) Unwrap() []error {
	errs := make([]error, len(p.List))
	for i, pr := range p.List {
		errs[i] = pr
	}
	return errs
}
