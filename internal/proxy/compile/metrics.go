package compile

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/stats"
)

// StatsMetadata is the listener filter_metadata key of the metric
// overrides (the shape of Istio's stats plugin config): {metrics: [{name,
// drop, tags_to_remove: [..], dimensions: {tag: value}}]}; a missing name
// is every metric.
const StatsMetadata = "istio.stats"

// metricOverrides compiles a listener's metric overrides; nil when it has
// none. Without a registry they are checked only.
func metricOverrides(md *corev3.Metadata, reg *stats.Registry) (*stats.Overrides, error) {
	st := md.GetFilterMetadata()[StatsMetadata]
	if st == nil {
		return nil, nil
	}
	var list []stats.MetricOverride
	for i, v := range st.GetFields()["metrics"].GetListValue().GetValues() {
		f := v.GetStructValue().GetFields()
		if f == nil {
			return nil, fmt.Errorf("metadata %s: metrics[%d] is not an object", StatsMetadata, i)
		}
		mo := stats.MetricOverride{Name: f["name"].GetStringValue(), Drop: f["drop"].GetBoolValue()}
		for _, t := range f["tags_to_remove"].GetListValue().GetValues() {
			mo.Remove = append(mo.Remove, t.GetStringValue())
		}
		for k, d := range f["dimensions"].GetStructValue().GetFields() {
			if _, ok := d.GetKind().(*structpb.Value_StringValue); !ok {
				return nil, fmt.Errorf("metadata %s: metrics[%d]: dimension %q must be a string", StatsMetadata, i, k)
			}
			if mo.Set == nil {
				mo.Set = map[string]string{}
			}
			mo.Set[k] = d.GetStringValue()
		}
		list = append(list, mo)
	}
	if reg == nil {
		reg = stats.NewRegistry(stats.Workload{})
	}
	ov, err := reg.Overrides(list)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", StatsMetadata, err)
	}
	return ov, nil
}
