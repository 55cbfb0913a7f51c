package local

import "testing"

func TestExpand(t *testing.T) {
	lookup := envLookup([]string{"PORT=8080", "NAME=reviews", "EMPTY="})
	cases := []struct{ in, want string }{
		{"--port", "--port"},
		{"$(PORT)", "8080"},
		{"--addr=:$(PORT)", "--addr=:8080"},
		{"$(NAME)-$(PORT)", "reviews-8080"},
		{"$(UNDEFINED)", "$(UNDEFINED)"},
		{"$$(PORT)", "$(PORT)"},
		{"$$$(PORT)", "$8080"},
		{"$(EMPTY)x", "x"},
		{"cost $5", "cost $5"},
		{"trailing $", "trailing $"},
		{"$(UNCLOSED", "$(UNCLOSED"},
	}
	for _, c := range cases {
		if got := Expand(c.in, lookup); got != c.want {
			t.Errorf("Expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
