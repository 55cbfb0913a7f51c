// Package config turns Kubernetes-style YAML files into typed objects:
// Kubernetes kinds as k8s.io/api types and Istio kinds as the official
// istio.io/api protobuf types. It validates strictly, reports every problem
// with file, line, kind/name and field path, and watches files for changes.
//
// # Loading
//
// [Load] reads files and directories (every *.yaml and *.yml below a
// directory, recursively, in sorted order, hidden files skipped); [Parse]
// reads one in-memory file. Both return a [Snapshot] and the diagnostics,
// sorted by file and line. The snapshot is nil when any diagnostic is an
// [Error]: the caller then keeps its last good configuration.
//
// Each document goes through the same steps:
//
//  1. Its header (apiVersion, kind, metadata.name, metadata.namespace) is
//     read; metadata.namespace defaults to "default" for namespaced kinds.
//  2. The kind is looked up in the kind table (kinds.go). Applied kinds go
//     into the snapshot; other Istio kinds are validated and listed in
//     Snapshot.NotApplied; any other kind is ignored with a warning.
//  3. A strict walk over the YAML node tree checks every field against the
//     schema (protobuf descriptors for Istio specs, the Go structs' json
//     tags for Kubernetes kinds): unknown fields, wrong types, bad enum
//     values, duplicate keys and conflicting oneof members are errors with
//     the field path and the line of the key. The walk also records the line
//     of every field, used by all later diagnostics.
//  4. The tree is converted to JSON and decoded (protojson for Istio,
//     encoding/json for Kubernetes).
//  5. Semantic validation applies the rules Istio and Kubernetes enforce
//     (validate_*.go).
//  6. The support tables (support.go) say which fields Halyard acts on today.
//     Any other field that is set gets exactly one warning at the root of
//     the unsupported subtree: nothing is ignored silently.
//
// After all documents, cross-document checks warn about references that do
// not resolve (a subset no DestinationRule defines, a DestinationRule for a
// host no Service or ServiceEntry declares, a missing ServiceAccount).
//
// docs/config-reference.md is generated from the kind and support tables;
// a test fails when it drifts, and `go test ./internal/config -update`
// rewrites it.
//
// # Watching
//
// [Watch] polls the file set, hashes names and contents, and reloads when
// the hash changes and has been stable for one poll.
package config
