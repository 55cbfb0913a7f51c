package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// visit is one field written in a document, in document order, for the
// support check.
type visit struct {
	path fieldPath
	line int
	set  bool // written with a value: not null, not an empty list or map
}

// walker checks a YAML tree against a schema. Errors go to its docCtx, the
// line of every field goes to the docCtx's line index, and every field
// written is recorded as a visit.
type walker struct {
	c       *docCtx
	visits  []visit
	goCache map[reflect.Type]map[string]goField
}

func newWalker(c *docCtx) *walker {
	return &walker{c: c, goCache: map[reflect.Type]map[string]goField{}}
}

func (w *walker) errorf(line int, p fieldPath, format string, args ...any) {
	w.c.errorAt(line, p.concrete, format, args...)
}

// record notes where field p is written; presence says whether an empty
// mapping counts as "set" (it does for protobuf messages).
func (w *walker) record(p fieldPath, k, v *yaml.Node, presence bool) {
	w.c.lines[p.concrete] = k.Line
	set := !isNull(v)
	if (v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode) && len(v.Content) == 0 {
		set = presence && v.Kind == yaml.MappingNode
	}
	w.visits = append(w.visits, visit{path: p, line: k.Line, set: set})
}

// expectKind reports an error unless n is of kind want.
func (w *walker) expectKind(n *yaml.Node, p fieldPath, want yaml.Kind) bool {
	if n.Kind == want {
		return true
	}
	name := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}[want]
	w.errorf(n.Line, p, "expected %s, got %s", name, describe(n))
	return false
}

// eachKey calls fn for every entry of a mapping, after checking that keys
// are scalars and not repeated.
func (w *walker) eachKey(n *yaml.Node, p fieldPath, fn func(k, v *yaml.Node)) {
	if !w.expectKind(n, p, yaml.MappingNode) {
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.errorf(k.Line, p, "a key must be a scalar, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			w.errorf(k.Line, p.field(k.Value), "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, v)
	}
}

// eachItem calls fn for every element of a list; null elements are errors.
func (w *walker) eachItem(n *yaml.Node, p fieldPath, fn func(i int, e *yaml.Node, ep fieldPath)) {
	if !w.expectKind(n, p, yaml.SequenceNode) {
		return
	}
	for i, e := range n.Content {
		ep := p.index(i)
		w.c.lines[ep.concrete] = e.Line
		if isNull(e) {
			w.errorf(e.Line, ep, "null is not allowed in a list")
			continue
		}
		fn(i, e, ep)
	}
}

// unknown reports a field the schema does not have.
func (w *walker) unknown(k *yaml.Node, p fieldPath, known []string) {
	msg := "unknown field"
	if s := closest(k.Value, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	w.errorf(k.Line, p.field(k.Value), "%s", msg)
}

// closest returns the known name nearest to s, if it is a likely typo.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(k, s) {
			return k
		}
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// scalar kinds a schema can ask for.
type scalarKind int

const (
	sString scalarKind = iota
	sBool
	sInt
	sUint
	sFloat
)

var scalarNames = map[scalarKind]string{sString: "a string", sBool: "a boolean", sInt: "an integer", sUint: "an integer", sFloat: "a number"}

// expectScalar checks that n is a scalar of kind want; for integers, bits
// bounds the range (32 or 64).
func (w *walker) expectScalar(n *yaml.Node, p fieldPath, want scalarKind, bits int) bool {
	tag := n.ShortTag()
	ok := n.Kind == yaml.ScalarNode
	switch want {
	case sString:
		ok = ok && slices.Contains([]string{"!!str", "!!timestamp", "!!binary"}, tag)
	case sBool:
		ok = ok && tag == "!!bool"
	case sInt, sUint:
		ok = ok && tag == "!!int"
	case sFloat:
		ok = ok && (tag == "!!int" || tag == "!!float")
	}
	if !ok {
		hint := ""
		if want == sString && n.Kind == yaml.ScalarNode {
			hint = " (quote it to make it a string)"
		}
		w.errorf(n.Line, p, "expected %s, got %s%s", scalarNames[want], describe(n), hint)
		return false
	}
	if want == sInt || want == sUint {
		return w.checkRange(n, p, want == sUint, bits)
	}
	return true
}

// checkRange checks that an integer fits the field's type.
func (w *walker) checkRange(n *yaml.Node, p fieldPath, unsigned bool, bits int) bool {
	var v any
	if err := n.Decode(&v); err != nil {
		w.errorf(n.Line, p, "invalid integer %s: %v", n.Value, err)
		return false
	}
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		w.errorf(n.Line, p, "integer %s is out of range", n.Value)
		return false
	}
	lo, hi := -math.Pow(2, float64(bits-1)), math.Pow(2, float64(bits-1))-1
	if unsigned {
		lo, hi = 0, math.Pow(2, float64(bits))-1
	}
	if f < lo || f > hi {
		typ := "int" + strconv.Itoa(bits)
		if unsigned {
			typ = "u" + typ
		}
		w.errorf(n.Line, p, "integer %s is out of range for %s", n.Value, typ)
		return false
	}
	return true
}
