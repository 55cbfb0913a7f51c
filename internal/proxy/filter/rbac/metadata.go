package rbac

import (
	"errors"
	"fmt"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// metaM is a dynamic metadata matcher: the value at path in the
// namespace filter must match value (inverted by invert).
type metaM struct {
	filter string
	path   []string
	value  valueM
	invert bool
}

func (m metaM) match(r *Request) bool {
	if r.Metadata == nil {
		return m.invert
	}
	v := lookup(r.Metadata.Metadata(m.filter), m.path)
	return m.value.matchValue(v) != m.invert
}

// lookup follows path through nested structs; nil when absent.
func lookup(s *structpb.Struct, path []string) *structpb.Value {
	if s == nil || len(path) == 0 {
		return nil
	}
	v := s.GetFields()[path[0]]
	for _, k := range path[1:] {
		st := v.GetStructValue()
		if st == nil {
			return nil
		}
		v = st.GetFields()[k]
	}
	return v
}

// valueM is a compiled ValueMatcher.
type valueM interface{ matchValue(v *structpb.Value) bool }

type (
	nullV    struct{}
	presentV bool
	boolV    bool
	stringV  struct{ s *router.StringMatcher }
	doubleV  struct {
		exact      *float64
		start, end float64
	}
	// listV matches a list with an element that matches one; a string
	// value counts as a one-element list (JWT claims that are either).
	listV struct{ one valueM }
	orV   []valueM
)

func (nullV) matchValue(v *structpb.Value) bool      { return isKind[*structpb.Value_NullValue](v) }
func (p presentV) matchValue(v *structpb.Value) bool { return (v != nil) == bool(p) }
func (b boolV) matchValue(v *structpb.Value) bool {
	return isKind[*structpb.Value_BoolValue](v) && v.GetBoolValue() == bool(b)
}
func (s stringV) matchValue(v *structpb.Value) bool {
	return isKind[*structpb.Value_StringValue](v) && s.s.Match(v.GetStringValue())
}
func (d doubleV) matchValue(v *structpb.Value) bool {
	if !isKind[*structpb.Value_NumberValue](v) {
		return false
	}
	n := v.GetNumberValue()
	if d.exact != nil {
		return n == *d.exact
	}
	return n >= d.start && n < d.end
}
func (l listV) matchValue(v *structpb.Value) bool {
	if isKind[*structpb.Value_StringValue](v) {
		return l.one.matchValue(v)
	}
	for _, e := range v.GetListValue().GetValues() {
		if l.one.matchValue(e) {
			return true
		}
	}
	return false
}
func (o orV) matchValue(v *structpb.Value) bool {
	for _, m := range o {
		if m.matchValue(v) {
			return true
		}
	}
	return false
}

func isKind[K any](v *structpb.Value) bool {
	if v == nil {
		return false
	}
	_, ok := v.GetKind().(K)
	return ok
}

func compileMetadata(pb *matcherv3.MetadataMatcher) (matcher, error) {
	m := metaM{filter: pb.GetFilter(), invert: pb.GetInvert()}
	if m.filter == "" {
		return nil, errors.New("metadata: no filter")
	}
	for _, seg := range pb.GetPath() {
		if seg.GetKey() == "" {
			return nil, errors.New("metadata: empty path key")
		}
		m.path = append(m.path, seg.GetKey())
	}
	if len(m.path) == 0 {
		return nil, errors.New("metadata: no path")
	}
	v, err := compileValue(pb.GetValue())
	if err != nil {
		return nil, fmt.Errorf("metadata %s %v: %w", m.filter, m.path, err)
	}
	m.value = v
	return m, nil
}

func compileValue(pb *matcherv3.ValueMatcher) (valueM, error) {
	switch p := pb.GetMatchPattern().(type) {
	case *matcherv3.ValueMatcher_NullMatch_:
		return nullV{}, nil
	case *matcherv3.ValueMatcher_PresentMatch:
		return presentV(p.PresentMatch), nil
	case *matcherv3.ValueMatcher_BoolMatch:
		return boolV(p.BoolMatch), nil
	case *matcherv3.ValueMatcher_StringMatch:
		s, err := compileString(p.StringMatch)
		if err != nil {
			return nil, err
		}
		return stringV{s}, nil
	case *matcherv3.ValueMatcher_DoubleMatch:
		d := doubleV{}
		switch dm := p.DoubleMatch.GetMatchPattern().(type) {
		case *matcherv3.DoubleMatcher_Exact:
			x := dm.Exact
			d.exact = &x
		case *matcherv3.DoubleMatcher_Range:
			d.start, d.end = dm.Range.GetStart(), dm.Range.GetEnd()
		default:
			return nil, errors.New("double_match without a pattern")
		}
		return d, nil
	case *matcherv3.ValueMatcher_ListMatch:
		one := p.ListMatch.GetOneOf()
		if one == nil {
			return nil, errors.New("list_match without one_of")
		}
		inner, err := compileValue(one)
		if err != nil {
			return nil, fmt.Errorf("list_match: %w", err)
		}
		return listV{one: inner}, nil
	case *matcherv3.ValueMatcher_OrMatch:
		var out orV
		for _, vm := range p.OrMatch.GetValueMatchers() {
			inner, err := compileValue(vm)
			if err != nil {
				return nil, fmt.Errorf("or_match: %w", err)
			}
			out = append(out, inner)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported value match %T", p)
	}
}
