package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// sink collects diagnostics.
type sink struct {
	diags []Diagnostic
}

func (s *sink) add(d Diagnostic) { s.diags = append(s.diags, d) }

func (s *sink) hasErrors() bool {
	return slices.ContainsFunc(s.diags, func(d Diagnostic) bool { return d.Severity == Error })
}

// sorted returns the diagnostics ordered by file and line; diagnostics on
// the same line keep the order in which they were found.
func (s *sink) sorted() []Diagnostic {
	out := slices.Clone(s.diags)
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(strings.Compare(a.Source.File, b.Source.File), cmp.Compare(a.Source.Line, b.Source.Line))
	})
	return out
}

// lineIndex maps a concrete field path (spec.http[0].route[1].weight) to the
// line where it is written. The empty path is the document itself.
type lineIndex map[string]int

// of returns the line of path, or of its nearest ancestor that is written.
func (li lineIndex) of(path string) int {
	for {
		if l, ok := li[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// parentPath strips the last segment: a.b[0] -> a.b -> a -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// fieldPath is a position in a document: concrete (spec.http[0].route) for
// messages and pattern (spec.http[].route) for the support tables.
type fieldPath struct {
	concrete string
	pattern  string
}

func (p fieldPath) field(name string) fieldPath {
	if p.concrete == "" {
		return fieldPath{name, name}
	}
	return fieldPath{p.concrete + "." + name, p.pattern + "." + name}
}

func (p fieldPath) index(i int) fieldPath {
	return fieldPath{p.concrete + "[" + strconv.Itoa(i) + "]", p.pattern + "[]"}
}

func (p fieldPath) key(k string) fieldPath {
	return fieldPath{p.concrete + "[" + k + "]", p.pattern + "[*]"}
}

// docCtx reports diagnostics about one document.
type docCtx struct {
	out   *sink
	file  string
	ref   string
	ns    string // the document's namespace, once its metadata is read
	lines lineIndex
	nerr  int
}

func newDocCtx(out *sink, file string, line int) *docCtx {
	return &docCtx{out: out, file: file, lines: lineIndex{"": line}}
}

func (c *docCtx) report(sev Severity, line int, field, msg string) {
	if sev == Error {
		c.nerr++
	}
	c.out.add(Diagnostic{Severity: sev, Source: Source{File: c.file, Line: line}, Ref: c.ref, Field: field, Message: msg})
}

// errorAt reports an error at an explicit line.
func (c *docCtx) errorAt(line int, field, format string, args ...any) {
	c.report(Error, line, field, fmt.Sprintf(format, args...))
}

// warnAt reports a warning at an explicit line.
func (c *docCtx) warnAt(line int, field, format string, args ...any) {
	c.report(Warning, line, field, fmt.Sprintf(format, args...))
}

// errorf reports an error about field, at the line where it (or its nearest
// written ancestor) is.
func (c *docCtx) errorf(field, format string, args ...any) {
	c.report(Error, c.lines.of(field), field, fmt.Sprintf(format, args...))
}

// warnf reports a warning about field.
func (c *docCtx) warnf(field, format string, args ...any) {
	c.report(Warning, c.lines.of(field), field, fmt.Sprintf(format, args...))
}
