package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the size of a document once aliases are expanded, so a
// "billion laughs" document cannot exhaust memory.
const maxNodes = 1 << 20

// yamlDoc is one document of a file: its root node, already free of aliases
// and merge keys.
type yamlDoc struct {
	root *yaml.Node
}

// splitDocs parses a multi-document YAML file. Empty documents are skipped.
// On a syntax error it returns the documents before it and the error with
// its line (the parser cannot continue past it).
func splitDocs(data []byte) ([]yamlDoc, int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []yamlDoc
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, 0, nil
		}
		if err != nil {
			line, msg := yamlErrorLine(err)
			return docs, line, errors.New(msg)
		}
		if len(n.Content) == 0 || isNull(n.Content[0]) {
			continue
		}
		budget := maxNodes
		root, err := resolve(n.Content[0], &budget)
		if err != nil {
			return docs, n.Line, err
		}
		docs = append(docs, yamlDoc{root: root})
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine extracts the line from a yaml.v3 error message.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "invalid YAML: " + msg[len(m[0]):]
	}
	return 0, "invalid YAML: " + msg
}

// resolve returns a copy of n with aliases replaced by what they point to
// and merge keys (<<) expanded, keeping every node's line.
func resolve(n *yaml.Node, budget *int) (*yaml.Node, error) {
	*budget--
	if *budget < 0 {
		return nil, errors.New("document too large once its aliases are expanded")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return resolve(n.Alias, budget)
	case yaml.SequenceNode:
		cp := *n
		cp.Content = make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			r, err := resolve(c, budget)
			if err != nil {
				return nil, err
			}
			cp.Content[i] = r
		}
		return &cp, nil
	case yaml.MappingNode:
		return resolveMapping(n, budget)
	}
	cp := *n
	return &cp, nil
}

// resolveMapping copies a mapping; keys written in it override merged ones,
// and earlier merge sources override later ones, as YAML's merge key says.
func resolveMapping(n *yaml.Node, budget *int) (*yaml.Node, error) {
	cp := *n
	cp.Content = nil
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				r, err := resolve(s, budget)
				if err != nil {
					return nil, err
				}
				if r.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("line %d: merge key (<<) needs a mapping", k.Line)
				}
				merged = append(merged, r.Content...)
			}
			continue
		}
		rv, err := resolve(v, budget)
		if err != nil {
			return nil, err
		}
		rk := *k
		cp.Content = append(cp.Content, &rk, rv)
	}
	for i := 0; i+1 < len(merged); i += 2 {
		if _, v := mapGet(&cp, merged[i].Value); v == nil {
			cp.Content = append(cp.Content, merged[i], merged[i+1])
		}
	}
	return &cp, nil
}

// mapGet returns the key and value nodes of key in a mapping, or nils.
func mapGet(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		return "boolean " + n.Value
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	}
	return strconv.Quote(n.Value)
}

// toJSON converts a node tree to JSON. Scalars keep their YAML type:
// strings (and timestamps) become JSON strings, numbers JSON numbers.
func toJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, n.Content[i].Value)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return writeScalar(b, n)
	}
	return nil
}

func writeScalar(b *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
		return nil
	case "!!bool", "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		out, err := json.Marshal(v)
		b.Write(out)
		return err
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		writeFloat(b, f)
		return nil
	}
	writeString(b, n.Value)
	return nil
}

// writeFloat writes f; infinities and NaN become the strings protojson uses.
func writeFloat(b *bytes.Buffer, f float64) {
	switch {
	case math.IsInf(f, 1):
		b.WriteString(`"Infinity"`)
	case math.IsInf(f, -1):
		b.WriteString(`"-Infinity"`)
	case math.IsNaN(f):
		b.WriteString(`"NaN"`)
	default:
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
}

func writeString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s) // a string always marshals
	b.Write(out)
}
