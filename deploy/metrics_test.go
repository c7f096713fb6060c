package deploy

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	promql "github.com/prometheus/prometheus/promql/parser"
)

const (
	rulesFile     = "prometheus/alerts.yaml"
	dashboardFile = "grafana/tipgate-dashboard.json"
)

// exportedMetrics returns every series name tipgate's /metrics can carry:
// the names its Go sources give in a prometheus *Opts literal (a histogram's
// _bucket, _sum and _count; a summary's _sum and _count), and those of the
// Go and process collectors internal/app registers. It reads the sources
// rather than a list so that renaming a metric breaks this test, not a
// dashboard in production.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	root := filepath.Join("..", "internal")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			for _, elt := range lit.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Name" {
					continue
				}
				v, ok := kv.Value.(*ast.BasicLit)
				if !ok || v.Kind != token.STRING {
					continue
				}
				name, err := strconv.Unquote(v.Value)
				if err != nil || !strings.HasPrefix(name, "tipgate_") {
					continue
				}
				names[name] = true
				switch sel.Sel.Name {
				case "HistogramOpts":
					names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
				case "SummaryOpts":
					names[name+"_sum"], names[name+"_count"] = true, true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found only %d tipgate metrics under %s: has the way they are declared changed?", len(names), root)
	}

	// The same collectors, with the same options, as internal/app registers.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

var promqlParser = promql.NewParser(promql.Options{})

// metricNames parses expr and returns the metric names its selectors use.
// A selector without a fixed name (a regexp on __name__) is an error: the
// test could not tell what it reads.
func metricNames(expr string) ([]string, error) {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, sel := range promql.ExtractSelectors(e) {
		name := ""
		for _, m := range sel {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			return nil, &nameError{expr}
		}
		names = append(names, name)
	}
	return names, nil
}

type nameError struct{ expr string }

func (e *nameError) Error() string { return "a selector without a metric name in " + e.expr }

// TestAlertRules parses the rules as Prometheus does (unknown fields are
// errors, PromQL and templates are checked) and checks that each alert says
// what to do and reads only metrics tipgate exports.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	exported := exportedMetrics(t)
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule %q; this file holds alerts only", g.Name, r.Record)
				continue
			}
			alerts = append(alerts, r.Alert)
			t.Run(r.Alert, func(t *testing.T) {
				if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
					t.Errorf("severity %q, want critical, warning or info", r.Labels["severity"])
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("no %s annotation", a)
					}
				}
				names, err := metricNames(r.Expr)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range names {
					if !exported[n] {
						t.Errorf("reads %s, which tipgate does not export", n)
					}
				}
			})
		}
	}
	// The alerts the issue asks for.
	for _, want := range []string{
		"TipgateTIPErrors", "TipgateTIPBreakerOpen", "TipgateDailyBudgetSpent", "TipgateTIPQuotaNearEnd",
		"TipgateStoreDown", "TipgateHitRatioCollapse", "TipgateNotReady", "TipgateTIPCertificateExpiring",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// grafanaVariable matches Grafana's interval variables, which stand where
// PromQL wants a duration; other variables stand inside label values.
var grafanaVariable = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)

// TestDashboard decodes the dashboard and checks every query: it parses as
// PromQL once Grafana's interval variables are filled in, and reads only
// metrics tipgate exports.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string            `json:"uid"`
		Title  string            `json:"title"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("uid %q, title %q, %d panels: not a dashboard", dash.UID, dash.Title, len(dash.Panels))
	}

	type panel struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // a collapsed row's
	}
	exported := exportedMetrics(t)
	ids := map[int]bool{}
	queries := 0
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			dec := json.NewDecoder(bytes.NewReader(r))
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				expr := grafanaVariable.ReplaceAllString(tg.Expr, "5m")
				names, err := metricNames(expr)
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				for _, n := range names {
					if !exported[n] {
						t.Errorf("panel %q reads %s, which tipgate does not export", p.Title, n)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if queries == 0 {
		t.Fatal("the dashboard has no query")
	}
}
