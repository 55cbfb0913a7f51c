package accesslog

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

func entry() *hcm.RequestInfo {
	r := httptest.NewRequest("GET", "http://reviews:9080/reviews/1?x=1", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("User-Agent", "curl/8")
	r.Header.Set("X-Request-Id", "abc")
	return &hcm.RequestInfo{Request: r, Start: time.Date(2026, 11, 23, 2, 3, 4, 5e6, time.UTC), Duration: 12 * time.Millisecond,
		Protocol: "HTTP/1.1", Method: "GET", Authority: "reviews:9080", Path: "/reviews/1", Status: 503,
		Flags: hcm.UpstreamConnectionFailure | hcm.UpstreamRetryLimitExceeded, Details: "upstream connect failure after 3 attempts",
		Cluster: "outbound|9080|v1|reviews.default.svc.cluster.local", UpstreamHost: "127.0.0.1:7000", Route: "default",
		ResponseBytes: 91, GRPCStatus: -1}
}

func TestDefaultFormat(t *testing.T) {
	var out bytes.Buffer
	l, err := New(Config{Path: "/dev/stdout"}, NewSinks(&out))
	if err != nil {
		t.Fatal(err)
	}
	l.Log(entry())
	want := `[2026-11-23T02:03:04.005Z] "GET /reviews/1?x=1 HTTP/1.1" 503 UF,URX upstream_connect_failure_after_3_attempts - "-" 0 91 12 - "-" "curl/8" "abc" "reviews:9080" "127.0.0.1:7000" outbound|9080|v1|reviews.default.svc.cluster.local - - 127.0.0.1:5555 - default` + "\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestJSONFormat(t *testing.T) {
	var out bytes.Buffer
	l, err := New(Config{Path: "/dev/stdout", JSON: map[string]string{
		"code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%", "grpc": "%GRPC_STATUS%", "line": "%REQ(:METHOD)% %REQ(:AUTHORITY)%",
	}}, NewSinks(&out))
	if err != nil {
		t.Fatal(err)
	}
	l.Log(entry())
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if got["code"] != "503" || got["flags"] != "UF,URX" || got["grpc"] != nil || got["line"] != "GET reviews:9080" {
		t.Fatalf("got %v", got)
	}
}

func TestBadFormats(t *testing.T) {
	for in, want := range map[string]string{
		"%NOPE%":       "unsupported command operator %NOPE%",
		"[%START_TIME": "unterminated",
		"%REQ(x%":      "missing )",
	} {
		if _, err := ParseFormat(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFormat(%q) = %v, want %q", in, err, want)
		}
	}
	if _, err := New(Config{Path: "/nonexistent-dir/x.log"}, NewSinks(nil)); err == nil || !strings.HasPrefix(err.Error(), "accesslog: ") {
		t.Errorf("unwritable path: %v", err)
	}
}

// DOWNSTREAM_REMOTE_ADDRESS is the client the HCM found (from
// x-forwarded-for), DOWNSTREAM_DIRECT_REMOTE_ADDRESS the peer.
func TestRemoteAddresses(t *testing.T) {
	var out bytes.Buffer
	l, err := New(Config{Path: "/dev/stdout", Text: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%\n"}, NewSinks(&out))
	if err != nil {
		t.Fatal(err)
	}
	e := entry()
	e.Remote = netip.MustParseAddrPort("192.0.2.5:0")
	l.Log(e)
	if got := out.String(); got != "192.0.2.5:0 192.0.2.5 127.0.0.1:5555\n" {
		t.Errorf("got %q", got)
	}
}
