package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// header is what every document must say about itself.
type header struct {
	apiVersion, group, version, kind string
	name, namespace                  string
	nsSet                            bool
}

// readHeader reads apiVersion, kind, metadata.name and metadata.namespace.
func readHeader(c *docCtx, root *yaml.Node) (header, bool) {
	var h header
	c.ref = peekRef(root)
	kind, ok1 := headerString(c, root, "kind", "kind", true)
	av, ok2 := headerString(c, root, "apiVersion", "apiVersion", true)
	h.apiVersion, h.kind = av, kind
	h.version = av
	if g, v, found := strings.Cut(av, "/"); found {
		h.group, h.version = g, v
	}
	mk, md := mapGet(root, "metadata")
	if md == nil || isNull(md) {
		c.errorf("metadata.name", "missing required field")
		return h, false
	}
	c.lines["metadata"] = mk.Line
	if md.Kind != yaml.MappingNode {
		c.errorAt(md.Line, "metadata", "expected a mapping, got %s", describe(md))
		return h, false
	}
	name, ok3 := headerString(c, md, "name", "metadata.name", true)
	ns, ok4 := headerString(c, md, "namespace", "metadata.namespace", false)
	h.name, h.namespace, h.nsSet = name, ns, ns != ""
	return h, ok1 && ok2 && ok3 && ok4
}

// peekRef returns Kind/namespace/name (or as much of it as is written) for
// the diagnostics about the header itself.
func peekRef(root *yaml.Node) string {
	_, md := mapGet(root, "metadata")
	kind, ns, name := scalarValue(root, "kind"), scalarValue(md, "namespace"), scalarValue(md, "name")
	if kind == "" || name == "" {
		return kind
	}
	return strings.Trim(kind+"/"+ns, "/") + "/" + name
}

// scalarValue returns the value of a scalar field of a mapping, or "".
func scalarValue(n *yaml.Node, key string) string {
	if _, v := mapGet(n, key); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
		return v.Value
	}
	return ""
}

// headerString reads a string field of n; path is its full field path.
func headerString(c *docCtx, n *yaml.Node, key, path string, required bool) (string, bool) {
	k, v := mapGet(n, key)
	if k != nil {
		c.lines[path] = k.Line
	}
	if v == nil || isNull(v) || (v.Kind == yaml.ScalarNode && v.Value == "" && required) {
		if required {
			c.errorf(path, "missing required field")
		}
		return "", !required
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		c.errorAt(v.Line, path, "expected a string, got %s", describe(v))
		return "", false
	}
	return v.Value, true
}

// docMeta builds the Meta of a document and checks its name and namespace
// the way Kubernetes does.
func docMeta(c *docCtx, h header, ki *kindInfo, line int) Meta {
	m := Meta{APIVersion: h.apiVersion, Kind: h.kind, Name: h.name, Namespace: h.namespace,
		Source: Source{File: c.file, Line: line}}
	switch {
	case ki.cluster && h.nsSet:
		c.warnf("metadata.namespace", "ignored: %s is cluster-scoped", h.kind)
		m.Namespace = ""
	case !ki.cluster && !h.nsSet:
		m.Namespace = "default"
	case !ki.cluster:
		checkName(c, "metadata.namespace", h.namespace, validation.IsDNS1123Label)
	}
	switch ki.kind {
	case "Namespace":
		checkName(c, "metadata.name", h.name, validation.IsDNS1123Label)
	case "Service":
		checkName(c, "metadata.name", h.name, validation.IsDNS1035Label)
	default:
		checkName(c, "metadata.name", h.name, validation.IsDNS1123Subdomain)
	}
	return m
}

// checkName reports the problems a Kubernetes name validator finds.
func checkName(c *docCtx, field, name string, check func(string) []string) bool {
	if errs := check(name); len(errs) > 0 {
		c.errorf(field, "invalid name %q: %s", name, strings.Join(errs, "; "))
		return false
	}
	return true
}

// unknownKind reports a document whose kind Halyard does not read: an error
// for the Istio groups (kubectl would refuse it too), a warning otherwise.
func unknownKind(c *docCtx, h header, ki *kindInfo, line int) {
	switch {
	case ki != nil:
		c.errorAt(line, "apiVersion", "%s is not served in %s (versions: %s)",
			h.kind, h.apiVersion, strings.Join(versionsOf(ki), ", "))
	case isIstioGroup(h.group):
		c.errorAt(line, "kind", "no kind %q in %s", h.kind, h.group)
	default:
		c.ref = h.kind + "/" + h.name
		if h.namespace != "" {
			c.ref = h.kind + "/" + h.namespace + "/" + h.name
		}
		c.warnAt(line, "", "kind %s (%s) is ignored: Halyard does not use it", h.kind, h.apiVersion)
	}
}

func versionsOf(ki *kindInfo) []string {
	out := make([]string, len(ki.versions))
	for i, v := range ki.versions {
		out[i] = ki.group + "/" + v
		if ki.group == "" {
			out[i] = v
		}
	}
	return out
}
