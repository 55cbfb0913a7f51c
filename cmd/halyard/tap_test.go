package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/local"
)

// TestTapFollowsEveryPodOfTheService runs `halyard tap reviews` against a
// state file naming a fake control plane and fake sidecars.
func TestTapFollowsEveryPodOfTheService(t *testing.T) {
	sidecar := func(pod string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/debug/tap" || r.URL.Query().Get("path") != "/r" {
				http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, `{"direction":"outbound","path":"/r/out","status":200}`+"\n")
			fmt.Fprintf(w, `{"time":"2026-11-23T02:00:00Z","direction":"inbound","protocol":"http","method":"GET","path":"/r/1","status":200,"durationMs":2.5,"flags":"-","sourceWorkload":"productpage-v1","sourceNamespace":"default","destinationService":"reviews.default.svc.cluster.local","destinationWorkload":%q,"upstreamHost":"127.0.0.1:1"}`+"\n", pod)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	v1, v2 := sidecar("reviews-v1"), sidecar("reviews-v2")
	cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]map[string]any{
			{"hostname": "reviews.default.svc.cluster.local", "ports": []map[string]any{{"endpoints": []string{"127.0.0.1:2 reviews-v1-0", "127.0.0.1:3 reviews-v2-0"}}}},
		})
	}))
	defer cp.Close()
	stateDir := t.TempDir()
	st := &local.State{PID: os.Getpid(), AdminAddress: strings.TrimPrefix(cp.URL, "http://"), Pods: []local.PodState{
		{Name: "reviews-v1-0", Namespace: "default", AdminAddress: v1},
		{Name: "reviews-v2-0", Namespace: "default", AdminAddress: v2},
		{Name: "ratings-v1-0", Namespace: "default", AdminAddress: "127.0.0.1:1"},
	}}
	if err := local.WriteState(stateDir, st); err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe()
	root := newRootCommand(func(string) string { return "" })
	root.SetArgs([]string{"--state-dir", stateDir, "tap", "reviews", "--path", "/r"})
	root.SetOut(pw)
	root.SetErr(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()

	sc := bufio.NewScanner(pr)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatalf("tap: %v", err)
	}
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"02:00:00.000 http GET /r/1 200 2.5ms - productpage-v1.default -> reviews.default.svc.cluster.local (reviews-v1 127.0.0.1:1)",
		"(reviews-v2 127.0.0.1:1)",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("tap output lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "/r/out") {
		t.Errorf("tap printed an outbound request:\n%s", joined)
	}
}

func TestTapAndDashboardWithoutAMesh(t *testing.T) {
	for _, args := range [][]string{{"tap", "reviews"}, {"dashboard"}, {"tap", "reviews", "-o", "yaml"}} {
		root := newRootCommand(func(string) string { return "" })
		root.SetArgs(append([]string{"--state-dir", t.TempDir()}, args...))
		root.SetOut(io.Discard)
		err := root.Execute()
		if err == nil || !(strings.Contains(err.Error(), "no running mesh") || strings.Contains(err.Error(), `-o "yaml"`)) {
			t.Errorf("%v: error %v, want no running mesh (or a bad -o)", args, err)
		}
	}
}
