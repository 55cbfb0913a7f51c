package config

import (
	"fmt"
	"strings"
)

// referenceIntro opens docs/config-reference.md.
const referenceIntro = `# Configuration reference

<!-- Generated from internal/config (kinds.go, support.go) by
     go test ./internal/config -update. Do not edit by hand. -->

Halyard reads Kubernetes and Istio YAML and gives it the meaning it has in
Istio. This page lists, field by field, what Halyard acts on today.

- **supported**: Halyard acts on the field.
- **no effect locally**: the field means nothing on one machine (scheduling,
  resources, ...). It gets the warning "` + msgNoEffect + `".
- **not yet supported**: the field is valid but Halyard does not act on it
  yet. It gets the warning "` + msgNotSupported + `". A field listed
  here covers its whole subtree: one warning is given at its root.

Every field is still checked against the schema: an unknown field, a value of
the wrong type or an invalid enum value is an error, with the file, the line
and the field path, and the whole configuration is rejected. The semantic
rules of Istio and Kubernetes are enforced too (a VirtualService needs hosts,
a Deployment's selector must match its template's labels, ...), and Halyard
requires every container to have a ` + "`command`" + `, which it runs as a local
process.
`

// referenceDoc renders docs/config-reference.md from the kind and support
// tables and the schemas, walking them exactly as the support check does.
func referenceDoc() string {
	var b strings.Builder
	b.WriteString(referenceIntro)
	b.WriteString("\n## Metadata and status (every applied kind)\n\n")
	writeTable(&b, fieldsOf(rootSchema(lookupKind("", "Service")), commonRules, true))
	for _, kr := range kindRules {
		ki := lookupKind(groupOfApplied(kr.kind), kr.kind)
		fmt.Fprintf(&b, "\n## %s (%s)\n\n", ki.kind, strings.Join(versionsOf(ki), ", "))
		rows := fieldsOf(rootSchema(ki), supportFor(ki.kind), false)
		if len(rows) == 0 {
			b.WriteString("Nothing beyond metadata.\n")
			continue
		}
		writeTable(&b, rows)
	}
	writeNotApplied(&b)
	return b.String()
}

func groupOfApplied(kind string) string {
	for _, k := range kinds {
		if k.kind == kind && k.apply != nil {
			return k.group
		}
	}
	return ""
}

type docRow struct {
	path, status string
}

// fieldsOf lists the rows of one kind: metadata only, or everything else.
func fieldsOf(root schemaType, rules []fieldRule, metadata bool) []docRow {
	var rows []docRow
	for _, f := range root.fields() {
		isMeta := f.name == "metadata" || f.name == "status" || f.name == "apiVersion" || f.name == "kind"
		if isMeta == metadata {
			rows = append(rows, schemaRows(fieldPath{}.field(f.name+f.suffix).pattern, f, rules)...)
		}
	}
	return rows
}

// schemaRows mirrors checkSupport: a covered field is one row, an ancestor
// of rules is walked into, anything else is one "not yet supported" row.
func schemaRows(pattern string, f schemaField, rules []fieldRule) []docRow {
	field := strings.TrimSuffix(strings.TrimSuffix(pattern, "[]"), "[*]")
	if r, found := ruleFor(field, rules); found {
		return []docRow{{field, statusText(r)}}
	}
	if !ancestorOfRule(field, rules) || f.child == nil {
		return []docRow{{field, "not yet supported"}}
	}
	var rows []docRow
	for _, c := range f.child.fields() {
		rows = append(rows, schemaRows(pattern+"."+c.name+c.suffix, c, rules)...)
	}
	return rows
}

func statusText(r fieldRule) string {
	s := "supported"
	if r.status == ignoredLocally {
		s = "no effect locally"
	}
	if r.note != "" {
		s += ": " + r.note
	}
	return s
}

func writeTable(b *strings.Builder, rows []docRow) {
	b.WriteString("| Field | Halyard |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| `%s` | %s |\n", r.path, strings.ReplaceAll(r.status, "|", `\|`))
	}
}

func writeNotApplied(b *strings.Builder) {
	b.WriteString("\n## Kinds validated but not applied yet\n\n")
	b.WriteString("These Istio kinds are parsed strictly and validated against their schema, " +
		"listed in the snapshot as not applied, and warned about with \"… is not yet applied\".\n\n")
	b.WriteString("| Kind | API versions |\n|---|---|\n")
	for _, k := range kinds {
		if k.apply == nil {
			fmt.Fprintf(b, "| %s | %s |\n", k.kind, strings.Join(versionsOf(k), ", "))
		}
	}
	b.WriteString("\nAny other kind or version in the groups " + strings.Join(istioGroups, ", ") +
		" is an error. Any other Kubernetes kind (ConfigMap, Secret, ...) is ignored with a warning. " +
		"A `v1` `List` is read item by item.\n")
}
