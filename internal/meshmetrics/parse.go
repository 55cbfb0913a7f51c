// Package meshmetrics scrapes Istio's standard metrics from every sidecar's
// /stats/prometheus, keeps a short ring of mesh-wide totals and turns it
// into what the web UI shows: requests per second, error ratio and P99
// latency per edge of the service graph and per service over time.
package meshmetrics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Parse reads the Prometheus text exposition format. Comments, HELP and
// TYPE lines are skipped; timestamps are ignored. keep, when not nil,
// chooses by metric name which samples to return (and so to allocate).
func Parse(r io.Reader, keep func(name string) bool) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line, keep)
		if err != nil {
			return nil, fmt.Errorf("meshmetrics: line %d: %w", n, err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("meshmetrics: %w", err)
	}
	return out, nil
}

func parseLine(line string, keep func(string) bool) (*Sample, error) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return nil, fmt.Errorf("no value in %q", line)
	}
	s := &Sample{Name: line[:end]}
	if keep != nil && !keep(s.Name) {
		return nil, nil
	}
	rest := line[end:]
	if rest[0] == '{' {
		labels, after, err := parseLabels(rest[1:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.Labels, rest = labels, after
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: no value", s.Name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return nil, fmt.Errorf("%s: value: %w", s.Name, err)
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `name="value",...}` and returns the text after '}'.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return nil, "", fmt.Errorf("unterminated labels")
		}
		if s[0] == '}' {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("bad label near %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		value, n, err := unquote(s[eq+2:])
		if err != nil {
			return nil, "", fmt.Errorf("label %s: %w", name, err)
		}
		labels[name] = value
		s = s[eq+2+n:]
	}
}

// unquote reads a label value up to its closing quote and returns it and
// the number of bytes consumed, quote included.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 == len(s) {
				return "", 0, fmt.Errorf("dangling escape")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated value")
}
