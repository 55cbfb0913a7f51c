// Package dashboards holds Halyard's Grafana dashboards (the JSON files in
// this directory, importable as they are) and reads their panels' queries
// back, so tests can run every one against a real Prometheus.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

// Dashboard is the part of a Grafana dashboard the tests read.
type Dashboard struct {
	File       string `json:"-"`
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard variable with its default value.
type Variable struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Current struct {
		Value any `json:"value"`
	} `json:"current"`
}

// Panel is one panel and its queries.
type Panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// Query is one panel query with the dashboard's variables replaced by
// their defaults.
type Query struct {
	Dashboard, Panel, RefID, Expr string
}

// Load reads every dashboard.
func Load() ([]Dashboard, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	sort.Strings(names)
	var out []Dashboard
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("dashboards: %w", err)
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", name, err)
		}
		d.File = name
		out = append(out, d)
	}
	return out, nil
}

// Queries returns every panel query with the variables substituted
// ($var and ${var}), in panel order.
func (d *Dashboard) Queries() []Query {
	var pairs []string
	for _, v := range d.Templating.List {
		val := fmt.Sprint(v.Current.Value)
		pairs = append(pairs, "${"+v.Name+"}", val, "$"+v.Name, val)
	}
	r := strings.NewReplacer(pairs...)
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Dashboard: d.Title, Panel: p.Title, RefID: t.RefID, Expr: r.Replace(t.Expr)})
		}
	}
	return out
}
