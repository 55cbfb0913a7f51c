package local

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halyard-mesh/halyard/internal/config"
)

func TestVIPsAreStableAndBounded(t *testing.T) {
	v := newVIPTable(netip.MustParsePrefix("198.19.0.0/30"))
	a, _ := v.get("a.default.svc.cluster.local")
	b, _ := v.get("b.default.svc.cluster.local")
	again, _ := v.get("a.default.svc.cluster.local")
	if a.String() != "198.19.0.1" || b.String() != "198.19.0.2" || again != a {
		t.Fatalf("vips a=%s b=%s a again=%s", a, b, again)
	}
	v.get("c.default.svc.cluster.local")
	if _, err := v.get("d.default.svc.cluster.local"); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("a full range gave %v", err)
	}
}

func TestHostsFilesNameServicesPerNamespace(t *testing.T) {
	snap, diags := config.Parse("svc.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  selector: {app: db}
  ports: [{name: tcp, port: 5432}]
`))
	for _, d := range diags {
		t.Log(d)
	}
	r := &Runner{opts: Options{StateDir: t.TempDir()}, vips: newVIPTable(netip.MustParsePrefix("198.19.0.0/16"))}
	if err := r.writeHostsFiles(snap, []string{"default", "data"}); err != nil {
		t.Fatal(err)
	}
	read := func(ns string) string {
		b, err := os.ReadFile(filepath.Join(r.opts.StateDir, "hosts", ns))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	def, data := read("default"), read("data")
	for _, want := range []string{
		"198.19.0.2\tdb.data.svc.cluster.local db.data.svc db.data\n",
		"198.19.0.1\treviews.default.svc.cluster.local reviews.default.svc reviews.default reviews\n",
		"127.0.0.1\tlocalhost\n",
	} {
		if !strings.Contains(def, want) {
			t.Errorf("default hosts file lacks %q:\n%s", want, def)
		}
	}
	if !strings.Contains(data, "db.data db\n") || strings.Contains(data, "reviews.default reviews\n") {
		t.Errorf("short names must resolve only in their own namespace:\n%s", data)
	}
	// Rewritten in place: the same file (a bind mount of it sees changes).
	before, _ := os.Stat(filepath.Join(r.opts.StateDir, "hosts", "default"))
	if err := r.writeHostsFiles(snap, []string{"default"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(r.opts.StateDir, "hosts", "default"))
	if !os.SameFile(before, after) {
		t.Error("the hosts file was replaced, not rewritten")
	}
}
