package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// texts renders diagnostics as the user sees them.
func texts(ds []Diagnostic) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// diagCase is one table test: a file and the exact diagnostics it gives.
type diagCase struct {
	name string
	in   string
	want []string
}

// runDiagCases parses each case as t.yaml and compares the diagnostics; the
// snapshot must be nil exactly when one of them is an error.
func runDiagCases(t *testing.T, cases []diagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap, diags := Parse("t.yaml", []byte(strings.TrimPrefix(tc.in, "\n")))
			got := texts(diags)
			if !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
			hasErr := slices.ContainsFunc(diags, func(d Diagnostic) bool { return d.Severity == Error })
			if (snap == nil) != hasErr {
				t.Errorf("snapshot nil = %v, but errors = %v", snap == nil, hasErr)
			}
		})
	}
}

// Documents reused by the tests. Each is valid on its own.
const (
	svcReviews = `
apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
`
	drReviews = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
`
)

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(strings.TrimPrefix(data, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
