package router

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// AppendAction is a HeaderValueOption's append_action.
type AppendAction uint8

// Append actions, as in envoy.config.core.v3.HeaderValueOption.
const (
	AppendIfExistsOrAdd    AppendAction = iota // add a value (the default)
	AddIfAbsent                                // add only when the header is absent
	OverwriteIfExistsOrAdd                     // replace every value, or add
	OverwriteIfExists                          // replace every value when present
)

// HeaderValue is one header to add (a HeaderValueOption). Value may hold
// Envoy %COMMAND% substitutions (see the package documentation of
// FormatContext).
type HeaderValue struct {
	Name   string
	Value  string
	Action AppendAction
	// KeepEmpty adds the header even when its value formats to "".
	KeepEmpty bool
}

// HeaderOps are the request or response header operations of one level
// (weighted cluster, route, virtual host or route configuration): the
// removals apply first, then the additions.
type HeaderOps struct {
	Add    []HeaderValue
	Remove []string
}

func (o HeaderOps) empty() bool { return len(o.Add) == 0 && len(o.Remove) == 0 }

type opKind uint8

const (
	opRemove opKind = iota
	opSet           // overwrite or add
	opSetIfExists
	opAppend
	opAddIfAbsent
)

type headerOp struct {
	kind      opKind
	key       string // canonical MIME key
	value     *formatter
	keepEmpty bool
}

// HeaderMutation is a compiled list of header operations. It is immutable
// and safe for concurrent use; a nil *HeaderMutation does nothing.
type HeaderMutation struct {
	ops []headerOp
	// needsContext is set when a value refers to request or upstream state.
	needsContext bool
}

// compileHeaderOps compiles the levels in the order given (each level's
// removals, then its overwrites, then its appends, as Envoy's HeaderParser
// evaluates them). It returns nil when there is nothing to do.
func compileHeaderOps(levels ...HeaderOps) (*HeaderMutation, error) {
	m := &HeaderMutation{}
	for _, l := range levels {
		for _, name := range l.Remove {
			key, err := mutableHeader(name)
			if err != nil {
				return nil, err
			}
			m.ops = append(m.ops, headerOp{kind: opRemove, key: key})
		}
		var sets, adds []headerOp
		for _, hv := range l.Add {
			key, err := mutableHeader(hv.Name)
			if err != nil {
				return nil, err
			}
			f, err := parseFormat(hv.Value)
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", hv.Name, err)
			}
			if f.parts != nil {
				m.needsContext = true
			}
			op := headerOp{key: key, value: f, keepEmpty: hv.KeepEmpty}
			switch hv.Action {
			case OverwriteIfExistsOrAdd:
				op.kind = opSet
				sets = append(sets, op)
			case OverwriteIfExists:
				op.kind = opSetIfExists
				sets = append(sets, op)
			case AddIfAbsent:
				op.kind = opAddIfAbsent
				adds = append(adds, op)
			default:
				op.kind = opAppend
				adds = append(adds, op)
			}
		}
		m.ops = append(append(m.ops, sets...), adds...)
	}
	if len(m.ops) == 0 {
		return nil, nil
	}
	return m, nil
}

// mutableHeader returns the canonical key of a header that header
// operations may change: not a pseudo-header nor Host, as Envoy enforces.
func mutableHeader(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("empty header name")
	case strings.HasPrefix(name, ":") || strings.EqualFold(name, "host"):
		return "", fmt.Errorf("header %q cannot be added or removed", name)
	case strings.ContainsAny(name, " \t\r\n:"):
		return "", fmt.Errorf("invalid header name %q", name)
	}
	return textproto.CanonicalMIMEHeaderKey(name), nil
}

// NeedsContext reports whether Apply reads its FormatContext beyond
// nothing: callers may then pass a cheaper, partial one.
func (m *HeaderMutation) NeedsContext() bool { return m != nil && m.needsContext }

// Apply performs the operations on h. fc supplies the values of %COMMAND%
// substitutions; it may be nil when !NeedsContext().
func (m *HeaderMutation) Apply(h http.Header, fc *FormatContext) {
	if m == nil {
		return
	}
	for i := range m.ops {
		op := &m.ops[i]
		switch op.kind {
		case opRemove:
			delete(h, op.key)
			continue
		case opSetIfExists:
			if len(h[op.key]) == 0 {
				continue
			}
		case opAddIfAbsent:
			if len(h[op.key]) != 0 {
				continue
			}
		}
		f := op.value
		if f.parts == nil {
			if f.lit == "" && !op.keepEmpty {
				continue
			}
			if op.kind == opAppend {
				h[op.key] = append(h[op.key], f.lit)
			} else {
				h[op.key] = f.litSlice
			}
			continue
		}
		v := f.format(fc)
		if v == "" && !op.keepEmpty {
			continue
		}
		if op.kind == opAppend {
			h[op.key] = append(h[op.key], v)
		} else {
			h[op.key] = []string{v}
		}
	}
}

// concatMutations joins compiled mutations in order (nil ones skipped).
func concatMutations(ms ...*HeaderMutation) *HeaderMutation {
	out := &HeaderMutation{}
	for _, m := range ms {
		if m == nil {
			continue
		}
		out.ops = append(out.ops, m.ops...)
		out.needsContext = out.needsContext || m.needsContext
	}
	if len(out.ops) == 0 {
		return nil
	}
	out.ops = slices.Clip(out.ops)
	return out
}
