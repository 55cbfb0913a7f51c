package compile

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/stats"
)

func statsMD(t *testing.T, metrics ...any) *corev3.Metadata {
	t.Helper()
	st, err := structpb.NewStruct(map[string]any{"metrics": metrics})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{StatsMetadata: st}}
}

func TestMetricOverrides(t *testing.T) {
	reg := stats.NewRegistry(stats.Workload{})
	md := statsMD(t, map[string]any{"name": "requests_total", "tags_to_remove": []any{"response_flags"}},
		map[string]any{"name": "request_bytes", "drop": true}, map[string]any{"dimensions": map[string]any{"mesh": "demo"}})
	a, err := metricOverrides(md, reg)
	if err != nil || a == nil {
		t.Fatalf("overrides %v, err %v", a, err)
	}
	b, _ := metricOverrides(md, reg)
	if a != b {
		t.Error("the same metadata compiled twice gives two overrides (series would be keyed apart)")
	}
	if ov, err := metricOverrides(nil, reg); ov != nil || err != nil {
		t.Errorf("no metadata: %v, %v", ov, err)
	}
	for _, tc := range []struct {
		md   *corev3.Metadata
		want string
	}{
		{statsMD(t, map[string]any{"name": "nope"}), `metadata istio.stats: stats: unknown metric "nope"`},
		{statsMD(t, map[string]any{"dimensions": map[string]any{"x": 1.0}}), `dimension "x" must be a string`},
		{statsMD(t, "flat"), "metrics[0] is not an object"},
	} {
		if _, err := metricOverrides(tc.md, reg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
