package xds

import (
	"os"
	"strings"
	"testing"

	"github.com/halyard-mesh/halyard/internal/config"
)

// loadConfig parses a test case's input.yaml with the real loader. Errors
// fail the test, and so do "not yet supported" warnings: a golden case
// only uses fields the translation acts on. Other warnings are logged.
func loadConfig(t *testing.T, path string) *config.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, diags := config.Parse(path, data)
	for _, d := range diags {
		if strings.Contains(d.Message, "not yet supported") {
			t.Errorf("%s", d)
			continue
		}
		t.Log(d.String())
	}
	if snap == nil {
		t.Fatalf("%s: configuration rejected", path)
	}
	return snap
}
