package config

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the given files and directories (every *.yaml and *.yml file
// below a directory, recursively, in sorted order; hidden files and
// directories are skipped) and returns the snapshot they describe with the
// diagnostics, sorted by file and line. The snapshot is nil when any
// diagnostic is an Error.
func Load(paths ...string) (*Snapshot, []Diagnostic) {
	files, diags := readFiles(paths)
	return build(files, diags)
}

// Parse is Load for one in-memory file; name is used in diagnostics.
func Parse(name string, data []byte) (*Snapshot, []Diagnostic) {
	return build([]file{{name: name, data: data}}, nil)
}

// loadedDoc is one applied document kept for the cross-document checks.
type loadedDoc struct {
	c    *docCtx
	kind *kindInfo
	meta Meta
	obj  any
}

// loader builds one snapshot.
type loader struct {
	out  sink
	snap Snapshot
	seen map[string]Source // group/Kind/namespace/name -> first definition
	docs []loadedDoc
}

func build(files []file, diags []Diagnostic) (*Snapshot, []Diagnostic) {
	l := &loader{out: sink{diags: diags}, seen: map[string]Source{}}
	for _, f := range files {
		l.file(f)
	}
	crossCheck(l.docs)
	if l.out.hasErrors() {
		return nil, l.out.sorted()
	}
	snap := l.snap
	if snap.Mesh == nil {
		snap.Mesh = DefaultMeshConfig()
	}
	return &snap, l.out.sorted()
}

func (l *loader) file(f file) {
	docs, line, err := splitDocs(f.data)
	for _, d := range docs {
		l.document(f.name, d.root)
	}
	if err != nil {
		l.out.add(Diagnostic{Severity: Error, Source: Source{File: f.name, Line: line}, Message: err.Error()})
	}
}

// document reads one document into the snapshot.
func (l *loader) document(file string, root *yaml.Node) {
	c := newDocCtx(&l.out, file, root.Line)
	if root.Kind != yaml.MappingNode {
		c.errorAt(root.Line, "", "a document must be a mapping, got %s", describe(root))
		return
	}
	if scalarValue(root, "apiVersion") == "v1" && scalarValue(root, "kind") == "List" {
		l.list(c, root)
		return
	}
	h, ok := readHeader(c, root)
	if !ok {
		return
	}
	ki := lookupKind(h.group, h.kind)
	if ki == configMapKind && !isMeshConfigMap("ConfigMap/"+h.namespace+"/"+h.name) {
		ki = nil // an application's ConfigMap: ignored like other Kubernetes kinds
	}
	if ki == nil || !slices.Contains(ki.versions, h.version) {
		unknownKind(c, h, ki, root.Line)
		return
	}
	m := docMeta(c, h, ki, root.Line)
	c.ref, c.ns = m.Ref(), m.Namespace
	l.checkDuplicate(c, ki, m)
	p, ok := parseDoc(c, root, ki)
	if !ok {
		return
	}
	m.Labels, m.Annotations = p.meta.Labels, p.meta.Annotations
	if ki.validate != nil {
		ki.validate(c, p.obj)
	}
	if ki.apply == nil {
		c.warnAt(root.Line, "", "%s is not yet applied: it is validated, then ignored", h.kind)
		l.snap.NotApplied = append(l.snap.NotApplied, m)
		return
	}
	checkSupport(c, p.visits, supportFor(ki.kind))
	ki.apply(&l.snap, m, p.obj)
	l.docs = append(l.docs, loadedDoc{c: c, kind: ki, meta: m, obj: p.obj})
}

// list reads the items of a v1 List (what `kubectl get -o yaml` prints).
func (l *loader) list(c *docCtx, root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k, v := root.Content[i], root.Content[i+1]; k.Value {
		case "apiVersion", "kind", "metadata":
		case "items":
			if v.Kind != yaml.SequenceNode {
				c.errorAt(v.Line, "items", "expected a list, got %s", describe(v))
				continue
			}
			for _, item := range v.Content {
				l.document(c.file, item)
			}
		default:
			c.errorAt(k.Line, k.Value, "unknown field")
		}
	}
}

// checkDuplicate reports a second definition of the same object.
func (l *loader) checkDuplicate(c *docCtx, ki *kindInfo, m Meta) {
	key := strings.Join([]string{ki.group, m.Kind, m.Namespace, m.Name}, "/")
	if first, dup := l.seen[key]; dup {
		c.errorAt(m.Source.Line, "", "duplicate %s: already defined at %s", m.Ref(), first)
		return
	}
	l.seen[key] = m.Source
}
