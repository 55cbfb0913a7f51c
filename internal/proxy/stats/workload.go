// Package stats keeps the sidecar's Istio-standard metrics
// (istio_requests_total, istio_request_duration_milliseconds,
// istio_request_bytes, istio_response_bytes and the istio_tcp_* counters)
// in hand-rolled atomic counters and histograms, and writes them in the
// Prometheus text format. A request finds its series in one map lookup by a
// small key (direction, codes, flags and two identity strings); labels are
// rendered once per series.
package stats

import (
	"cmp"
	"strings"
)

// Unknown is the label value Istio reports for what it does not know.
const Unknown = "unknown"

// DefaultCluster is the cluster name of every workload (Istio's default
// for a single cluster).
const DefaultCluster = "Kubernetes"

// Workload is one side of a request as the labels report it.
type Workload struct {
	Name, Namespace                     string
	CanonicalService, CanonicalRevision string
	Cluster, App, Version               string
	Principal                           string
}

// UnknownWorkload is a workload of which nothing is known.
func UnknownWorkload() Workload {
	return Workload{Name: Unknown, Namespace: Unknown, CanonicalService: Unknown, CanonicalRevision: Unknown,
		Cluster: Unknown, App: Unknown, Version: Unknown, Principal: Unknown}
}

// ParseWorkload decodes the compact workload encoding
// "name;namespace;canonical_service;canonical_revision;cluster;app;version"
// (Istio's istio.workload metadata followed by app and version; the peer
// metadata header carries the same). Missing or empty parts are
// "unknown"; ok is false when s has no name.
func ParseWorkload(s string) (w Workload, ok bool) {
	w = UnknownWorkload()
	parts := strings.SplitN(s, ";", 8)
	dst := []*string{&w.Name, &w.Namespace, &w.CanonicalService, &w.CanonicalRevision, &w.Cluster, &w.App, &w.Version}
	for i, p := range parts {
		if i < len(dst) && p != "" {
			*dst[i] = p
		}
	}
	return w, len(parts) > 0 && parts[0] != ""
}

// Encode is the compact encoding ParseWorkload reads.
func (w Workload) Encode() string {
	return strings.Join([]string{w.Name, w.Namespace, w.CanonicalService, w.CanonicalRevision, w.Cluster, w.App, w.Version}, ";")
}

// SelfFromMetadata is the sidecar's own workload from its node metadata:
// WORKLOAD_NAME (or POD_NAME), NAMESPACE, CLUSTER_ID and LABELS
// ("k=v,k=v": app, version, service.istio.io/canonical-name and
// canonical-revision, as Istio derives canonical names).
func SelfFromMetadata(md map[string]string) Workload {
	labels := ParseLabels(md["LABELS"])
	name := cmp.Or(md["WORKLOAD_NAME"], md["POD_NAME"], Unknown)
	return Workload{
		Name:              name,
		Namespace:         cmp.Or(md["NAMESPACE"], Unknown),
		CanonicalService:  cmp.Or(labels["service.istio.io/canonical-name"], labels["app.kubernetes.io/name"], labels["app"], name),
		CanonicalRevision: cmp.Or(labels["service.istio.io/canonical-revision"], labels["app.kubernetes.io/version"], labels["version"], "latest"),
		Cluster:           cmp.Or(md["CLUSTER_ID"], DefaultCluster),
		App:               cmp.Or(labels["app"], Unknown),
		Version:           cmp.Or(labels["version"], Unknown),
		Principal:         Unknown, // the SPIFFE ID, set by the caller when the proxy has one
	}
}

// ParseLabels reads "k=v,k=v"; malformed parts are skipped.
func ParseLabels(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// Service is the destination service as the labels report it.
type Service struct {
	Host, Name, Namespace string
}

// ParseService decodes "host;name;namespace" (compile's encoding of a
// cluster's istio.services); a plain host (an authority, port removed)
// gives that host with name and namespace unknown, or, for a Kubernetes
// name of the form name.namespace.svc..., those parts.
func ParseService(s string) Service {
	if s == "" {
		return Service{Host: Unknown, Name: Unknown, Namespace: Unknown}
	}
	if host, rest, ok := strings.Cut(s, ";"); ok {
		name, ns, _ := strings.Cut(rest, ";")
		return Service{Host: host, Name: cmp.Or(name, host), Namespace: cmp.Or(ns, Unknown)}
	}
	host := stripPort(s)
	parts := strings.Split(host, ".")
	if len(parts) >= 3 && parts[2] == "svc" {
		return Service{Host: host, Name: parts[0], Namespace: parts[1]}
	}
	return Service{Host: host, Name: host, Namespace: Unknown}
}

func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}
