package xds

import (
	"fmt"
	"slices"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// validateDeep runs the protoc-gen-validate rules on a message and, since
// those stop at google.protobuf.Any, on every typed config inside it.
func validateDeep(m proto.Message) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%T: %w", m, err)
		}
	}
	var err error
	walkAnys(m.ProtoReflect(), func(a *anypb.Any) bool {
		inner, uerr := a.UnmarshalNew()
		if uerr != nil {
			err = fmt.Errorf("unpack %s: %w", a.GetTypeUrl(), uerr)
			return false
		}
		if verr := validateDeep(inner); verr != nil {
			err = fmt.Errorf("in %s: %w", a.GetTypeUrl(), verr)
			return false
		}
		return true
	})
	return err
}

// walkAnys calls f on each Any directly or indirectly inside m (not
// descending into the Anys themselves); f returns false to stop.
func walkAnys(m protoreflect.Message, f func(*anypb.Any) bool) bool {
	if a, ok := m.Interface().(*anypb.Any); ok {
		return f(a)
	}
	cont := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				cont = walkAnys(mv.Message(), f)
				return cont
			})
		case fd.IsList() && fd.Message() != nil:
			for i := 0; cont && i < v.List().Len(); i++ {
				cont = walkAnys(v.List().Get(i).Message(), f)
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			cont = walkAnys(v.Message(), f)
		}
		return cont
	})
	return cont
}

// lineDiff is a minimal line diff (longest common subsequence), enough to
// read a golden file mismatch: removed lines start with "-", added with
// "+", and unchanged runs are elided to two lines of context.
func lineDiff(a, b []string) string {
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, "  "+a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "- "+a[i])
			i++
		default:
			ops = append(ops, "+ "+b[j])
			j++
		}
	}
	return elideContext(ops, 2)
}

func elideContext(ops []string, context int) string {
	var sb strings.Builder
	changed := func(k int) bool { return k >= 0 && k < len(ops) && ops[k][0] != ' ' }
	near := func(k int) bool {
		for d := -context; d <= context; d++ {
			if changed(k + d) {
				return true
			}
		}
		return false
	}
	skipping := false
	for k, op := range ops {
		if near(k) {
			sb.WriteString(op + "\n")
			skipping = false
		} else if !skipping {
			sb.WriteString("  ...\n")
			skipping = true
		}
	}
	return sb.String()
}

// missingClusters lists, sorted, the clusters that routes (destinations
// and mirrors) and listeners send to but CDS does not define.
func missingClusters(res map[string][]types.Resource) []string {
	defined := map[string]bool{}
	for _, r := range res[resource.ClusterType] {
		defined[cachev3.GetResourceName(r)] = true
	}
	var missing []string
	note := func(name string) {
		if name != "" && !defined[name] && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	for _, items := range res {
		for _, r := range items {
			walkMessages(r, func(m proto.Message) {
				switch v := m.(type) {
				case *route.RouteAction:
					note(v.GetCluster())
				case *route.WeightedCluster_ClusterWeight:
					note(v.GetName())
				case *tcp.TcpProxy:
					note(v.GetCluster())
				case *tcp.TcpProxy_WeightedCluster_ClusterWeight:
					note(v.GetName())
				case *route.RouteAction_RequestMirrorPolicy:
					note(v.GetCluster())
				}
			})
		}
	}
	slices.Sort(missing)
	return missing
}

// walkMessages calls f on m and every message inside it, unpacking Anys.
func walkMessages(m proto.Message, f func(proto.Message)) {
	f(m)
	if a, ok := m.(*anypb.Any); ok {
		if inner, err := a.UnmarshalNew(); err == nil {
			walkMessages(inner, f)
		}
		return
	}
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				walkMessages(mv.Message().Interface(), f)
				return true
			})
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				walkMessages(v.List().Get(i).Message().Interface(), f)
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			walkMessages(v.Message().Interface(), f)
		}
		return true
	})
}
