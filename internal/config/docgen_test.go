package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config-reference.md from the tables")

const referencePath = "../../docs/config-reference.md"

// TestConfigReference keeps docs/config-reference.md in step with the kind
// and support tables: run `go test ./internal/config -update` after
// changing them.
func TestConfigReference(t *testing.T) {
	want := referenceDoc()
	if *update {
		if err := os.WriteFile(referencePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (run: go test ./internal/config -update)", err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with the support tables; run: go test ./internal/config -update\nfirst difference at line %d",
			referencePath, firstDiffLine(string(got), want))
	}
}

func firstDiffLine(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

func TestReferenceMirrorsTheSupportCheck(t *testing.T) {
	doc := referenceDoc()
	for _, want := range []string{
		"| `spec.http[].route[].weight` | supported: relative weights, as in Istio: they need not add up to 100 |",
		"| `spec.http[].retries` | supported: Istio's default policy when not set (2 retries); attempts: 0 turns retries off |",
		"| `spec.http[].delegate` | not yet supported |",
		"| `spec.trafficPolicy.tls.caCrl` | not yet supported |",
		"| `spec.mtls.mode` | supported: STRICT: mutual TLS only; PERMISSIVE (the default): mutual TLS and plaintext on the same port; DISABLE: plaintext only; UNSET inherits |",
		"| `spec.template.spec.containers[].resources` | no effect locally |",
		"| `spec.template.spec.containers[].env[].valueFrom` | not yet supported |",
		"| Gateway | networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3 |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}
