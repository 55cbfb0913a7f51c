package xds

import (
	"os"
	"testing"

	"github.com/halyard-mesh/halyard/internal/config"
)

// loadConfig parses a test case's input.yaml with the real loader. Errors
// fail the test; warnings (fields Halyard does not act on) are logged.
func loadConfig(t *testing.T, path string) *config.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, diags := config.Parse(path, data)
	for _, d := range diags {
		t.Log(d.String())
	}
	if snap == nil {
		t.Fatalf("%s: configuration rejected", path)
	}
	return snap
}
