package bench

import "testing"

func TestReplaceGenerated(t *testing.T) {
	doc := "# Performance\n\nintro\n\n<!-- bench:begin (generated) -->\nold table\n<!-- bench:end -->\n\nhow to reproduce\n"
	got, err := replaceGenerated(doc, "| new |")
	want := "# Performance\n\nintro\n\n<!-- bench:begin (generated) -->\n| new |\n<!-- bench:end -->\n\nhow to reproduce\n"
	if err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
	for _, bad := range []string{"no markers", "<!-- bench:end -->\n<!-- bench:begin -->\n", "<!-- bench:begin -->"} {
		if _, err := replaceGenerated(bad, "x"); err == nil {
			t.Errorf("replaceGenerated(%q) succeeded", bad)
		}
	}
}
