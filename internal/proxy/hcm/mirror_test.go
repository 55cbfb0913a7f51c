package hcm

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

type shadowed struct {
	host, path, body string
}

func mirrorRoute(fraction router.Fraction, a router.Action) router.RouteConfig {
	a.Cluster = "primary"
	a.Mirrors = []router.MirrorPolicy{{Cluster: "shadow", Fraction: fraction}}
	return router.RouteConfig{Name: "m", Match: prefix("/"), Action: a}
}

var always = router.Fraction{Numerator: 100, Denominator: 100}

func TestMirror(t *testing.T) {
	primary := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "primary %s %d", r.URL.Path, len(b))
	})
	got := make(chan shadowed, 16)
	release := make(chan struct{})
	shadow := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- shadowed{r.Host, r.URL.Path, string(b)}
		<-release // a shadow that does not answer
		w.WriteHeader(500)
	})
	defer close(release)
	rg := newRig(t, []clusterSpec{{name: "primary", addrs: []string{primary}}, {name: "shadow", addrs: []string{shadow}}},
		table(vhost(mirrorRoute(always, router.Action{PrefixRewrite: "/v2/", Timeout: time.Minute}))))

	for _, tc := range []struct {
		name, host string
		body       io.Reader
		want       string
	}{
		{"GET", "reviews:9080", nil, ""},
		{"POST with length", "reviews", strings.NewReader("hello"), "hello"},
		{"POST streamed", "[::1]:80", io.MultiReader(strings.NewReader("streamed body")), "streamed body"},
	} {
		method := "GET"
		if tc.body != nil {
			method = "POST"
		}
		resp, body := rg.do(method, "/a", http.Header{"Host": {tc.host}}, tc.body)
		// The primary answered although the shadow has not.
		if resp.StatusCode != 200 || body != fmt.Sprintf("primary /v2/a %d", len(tc.want)) {
			t.Fatalf("%s: primary %d %q", tc.name, resp.StatusCode, body)
		}
		select {
		case s := <-got:
			wantHost := shadowHost(tc.host)
			if s.host != wantHost || s.path != "/v2/a" || s.body != tc.want {
				t.Errorf("%s: shadow got %+v, want host %s path /v2/a body %q", tc.name, s, wantHost, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the shadow got nothing", tc.name)
		}
	}
}

func TestShadowHost(t *testing.T) {
	for in, want := range map[string]string{
		"reviews:9080": "reviews-shadow:9080", "reviews": "reviews-shadow", "[::1]:80": "[::1]-shadow:80",
		"10.0.0.1:80": "10.0.0.1-shadow:80", "::1": "::1-shadow",
	} {
		if got := shadowHost(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestMirrorFraction(t *testing.T) {
	primary := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	var n atomic.Int32
	shadow := backend(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1) })
	for _, tc := range []struct {
		f        router.Fraction
		min, max int32
	}{
		{router.Fraction{Numerator: 0, Denominator: 100}, 0, 0},
		{router.Fraction{Numerator: 250000, Denominator: 1000000}, 30, 70}, // 25% of 200 = 50, sd ≈ 6
	} {
		n.Store(0)
		rg := newRig(t, []clusterSpec{{name: "primary", addrs: []string{primary}}, {name: "shadow", addrs: []string{shadow}}},
			table(vhost(mirrorRoute(tc.f, router.Action{}))))
		for range 200 {
			rg.do("GET", "/", nil, nil)
		}
		rg.srv.mirrorWG.Wait()
		if got := n.Load(); got < tc.min || got > tc.max {
			t.Errorf("fraction %v: %d of 200 mirrored, want %d-%d", tc.f, got, tc.min, tc.max)
		}
	}
}

// TestMirrorStreamingDoesNotBlock: a bidirectional h2c stream (as a gRPC
// streaming call) goes through while its shadow reads nothing and never
// answers.
func TestMirrorStreamingDoesNotBlock(t *testing.T) {
	echo := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		rc.Flush()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			fmt.Fprintf(w, "echo %s\n", sc.Text())
			rc.Flush()
		}
	})
	hosts := make(chan string, 1)
	stuck := make(chan struct{})
	defer close(stuck)
	shadow := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		<-stuck
	})
	rg := newRig(t, []clusterSpec{{name: "primary", addrs: []string{echo}, h2c: true}, {name: "shadow", addrs: []string{shadow}, h2c: true}},
		table(vhost(mirrorRoute(always, router.Action{}))))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", rg.front.URL+"/stream", pr)
	req.Header.Set("Content-Type", "application/grpc")
	req.Host = "echo:9090"
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for i := range 50 {
		fmt.Fprintf(pw, "message %d %s\n", i, strings.Repeat("x", 2000)) // past the 64 KiB buffer
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), fmt.Sprint("echo message ", i)) {
			t.Fatalf("message %d: no echo (%v)", i, lines.Err())
		}
	}
	pw.Close()
	if lines.Scan() {
		t.Errorf("unexpected %q", lines.Text())
	}
	select {
	case h := <-hosts:
		if h != "echo-shadow:9090" {
			t.Errorf("shadow host %q", h)
		}
	case <-time.After(5 * time.Second):
		t.Error("the shadow got nothing")
	}
}
