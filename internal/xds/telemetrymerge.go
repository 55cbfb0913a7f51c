package xds

import (
	"slices"
	"strings"

	telemetry "istio.io/api/telemetry/v1alpha1"
)

// How Telemetry resources combine, as Istio computes it. The Telemetries
// that apply to a pod form up to three levels, root first: the root
// namespace's first Telemetry without a selector (mesh-wide), the pod's
// namespace's first without a selector, and the first in the pod's
// namespace whose selector matches its labels. Later levels override
// earlier ones field by field:
//
//   - metrics: the providers of the most specific level that names any
//     are in scope; the overrides of every level are applied in order per
//     direction and metric (disabled and each tag replaced, not the whole
//     override), and ALL_METRICS disabled turns a provider off until a
//     later override turns it back on;
//   - tracing: every entry applies in order to its direction: a named
//     provider, disableSpanReporting, randomSamplingPercentage and
//     customTags (as a whole) replace what came before;
//   - access logging: the providers named at the most specific level with
//     any are in scope; entries apply in order, disabled removing a
//     provider for their direction and an enabled entry adding it.

// telemetryLevels returns the Telemetry specs that apply to the pod,
// root namespace first, workload last.
func (g *generator) telemetryLevels() []*telemetry.Telemetry {
	first := func(ok func(ns string, sel map[string]string) bool) *telemetry.Telemetry {
		for _, t := range g.telemetries {
			if ok(t.Namespace, t.Spec.GetSelector().GetMatchLabels()) {
				return t.Spec
			}
		}
		return nil
	}
	var out []*telemetry.Telemetry
	if t := first(func(ns string, sel map[string]string) bool { return ns == g.root && len(sel) == 0 }); t != nil {
		out = append(out, t)
	}
	if g.pod.Namespace != g.root {
		if t := first(func(ns string, sel map[string]string) bool { return ns == g.pod.Namespace && len(sel) == 0 }); t != nil {
			out = append(out, t)
		}
	}
	if t := first(func(ns string, sel map[string]string) bool {
		return ns == g.pod.Namespace && len(sel) > 0 && labelsMatch(sel, g.pod.Labels)
	}); t != nil {
		out = append(out, t)
	}
	return out
}

// forDirection says whether an entry with that match mode applies to the
// direction (CLIENT outbound, SERVER inbound).
func forDirection(m, mode telemetry.WorkloadMode) bool {
	return m == telemetry.WorkloadMode_CLIENT_AND_SERVER || m == mode
}

func providerNames(refs []*telemetry.ProviderRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.GetName())
	}
	return out
}

// metricOverride is the merged override of one metric in one direction.
type metricOverride struct {
	disabled *bool
	tags     map[string]*telemetry.MetricsOverrides_TagOverride
}

// mergedMetrics merges the levels' metrics overrides for one direction.
// off reports that the Prometheus metrics are not reported at all (their
// provider is out of scope, or ALL_METRICS is disabled).
func (g *generator) mergedMetrics(levels []*telemetry.Telemetry, mode telemetry.WorkloadMode) (per map[string]*metricOverride, off bool) {
	var entries []*telemetry.Metrics
	for _, l := range levels {
		entries = append(entries, l.GetMetrics()...)
	}
	defaults := g.mesh.GetDefaultProviders().GetMetrics()
	if len(defaults) == 0 {
		defaults = []string{prometheusProvider} // Istio's default mesh config
	}
	inScope := defaults
	for _, m := range entries {
		if names := providerNames(m.GetProviders()); len(names) > 0 {
			inScope = names
		}
	}
	prom := slices.IndexFunc(inScope, g.isPrometheus)
	if prom < 0 {
		return nil, true
	}
	per = map[string]*metricOverride{}
	parent := defaults
	for _, m := range entries {
		names := providerNames(m.GetProviders())
		if len(names) == 0 {
			names = parent
		}
		parent = names
		if !slices.Contains(names, inScope[prom]) {
			continue
		}
		for _, o := range m.GetOverrides() {
			match := o.GetMatch()
			all := match.GetCustomMetric() == "" && match.GetMetric() == telemetry.MetricSelector_ALL_METRICS
			if all && o.GetDisabled().GetValue() {
				off = true
				continue
			}
			off = false
			if !forDirection(match.GetMode(), mode) || match.GetCustomMetric() != "" {
				continue
			}
			for _, name := range metricsMatched(match) {
				mo := per[name]
				if mo == nil {
					mo = &metricOverride{}
					per[name] = mo
				}
				if d := o.GetDisabled(); d != nil {
					v := d.GetValue()
					mo.disabled = &v
				}
				for k, v := range o.GetTagOverrides() {
					if mo.tags == nil {
						mo.tags = map[string]*telemetry.MetricsOverrides_TagOverride{}
					}
					mo.tags[k] = v
				}
			}
		}
	}
	return per, off
}

// metricsMatched are the stats names a selector names (every metric for
// ALL_METRICS), sorted.
func metricsMatched(match *telemetry.MetricSelector) []string {
	if n := istioMetricNames[match.GetMetric()]; n != "" {
		return []string{n}
	}
	if _, ok := istioMetricNames[match.GetMetric()]; !ok {
		return nil // the gRPC message counters are not reported
	}
	var all []string
	for _, n := range istioMetricNames {
		if n != "" {
			all = append(all, n)
		}
	}
	slices.Sort(all)
	return all
}

// prometheusProvider is Istio's built-in Prometheus metrics provider.
const prometheusProvider = "prometheus"

// isPrometheus says whether a provider name is the built-in prometheus
// provider or an extension provider of the prometheus kind.
func (g *generator) isPrometheus(name string) bool {
	if p := extensionProvider(g.mesh, name); p != nil {
		return p.GetPrometheus() != nil
	}
	return strings.EqualFold(name, prometheusProvider)
}

// tracingSpec is the merged tracing of one direction.
type tracingSpec struct {
	provider string // "" when none
	disabled bool
	sampling *float64
	tags     map[string]*telemetry.Tracing_CustomTag
}

// mergedTracing merges MeshConfig defaultProviders.tracing and the levels'
// tracing entries for one direction. set is false when neither says
// anything (tracing is then off).
func (g *generator) mergedTracing(levels []*telemetry.Telemetry, mode telemetry.WorkloadMode) (spec tracingSpec, set bool) {
	if d := g.mesh.GetDefaultProviders().GetTracing(); len(d) > 0 {
		spec.provider, set = d[0], true
	}
	for _, l := range levels {
		for _, e := range l.GetTracing() {
			set = true
			if !forDirection(e.GetMatch().GetMode(), mode) {
				continue
			}
			if names := providerNames(e.GetProviders()); len(names) > 0 {
				spec.provider = names[0]
			}
			if d := e.GetDisableSpanReporting(); d != nil {
				spec.disabled = d.GetValue()
			}
			if e.GetCustomTags() != nil {
				spec.tags = e.GetCustomTags()
			}
			if p := e.GetRandomSamplingPercentage(); p != nil {
				v := p.GetValue()
				spec.sampling = &v
			}
		}
	}
	return spec, set
}

// mergedAccessLogging merges MeshConfig defaultProviders.accessLogging and
// the levels' accessLogging entries for one direction into the providers
// to log to, sorted. set is false when the Telemetry API says nothing for
// the direction (no provider enabled, none explicitly disabled): the
// legacy accessLogFile then decides, as in Istio.
func (g *generator) mergedAccessLogging(levels []*telemetry.Telemetry, mode telemetry.WorkloadMode) (providers []string, set bool) {
	defaults := g.mesh.GetDefaultProviders().GetAccessLogging()
	var withLogs [][]*telemetry.AccessLogging
	for _, l := range levels {
		if len(l.GetAccessLogging()) > 0 {
			withLogs = append(withLogs, l.GetAccessLogging())
		}
	}
	if len(withLogs) == 0 {
		providers = slices.Clone(defaults)
		slices.Sort(providers)
		return slices.Compact(providers), len(defaults) > 0
	}
	inScope := defaults
	for _, level := range withLogs {
		var names []string
		for _, e := range level {
			names = append(names, providerNames(e.GetProviders())...)
		}
		if len(names) > 0 {
			inScope = names
		}
	}
	on := map[string]bool{}
	disabled := false
	parent := defaults
	for _, level := range withLogs {
		for _, e := range level {
			names := providerNames(e.GetProviders())
			if len(names) == 0 {
				names = parent
			}
			parent = names
			if !forDirection(e.GetMatch().GetMode(), mode) {
				continue
			}
			for _, n := range names {
				if !slices.Contains(inScope, n) {
					continue
				}
				if e.GetDisabled().GetValue() {
					delete(on, n)
					disabled = true
				} else {
					on[n] = true
				}
			}
		}
	}
	for n := range on {
		providers = append(providers, n)
	}
	slices.Sort(providers)
	return providers, len(providers) > 0 || disabled
}
