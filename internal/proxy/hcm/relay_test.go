package hcm

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

func clusterRoute(c string) router.RouteConfig {
	return router.RouteConfig{Name: "r", Match: prefix("/"), Action: router.Action{Cluster: c}}
}

// Hop-by-hop headers, and those Connection names, stop at the proxy in
// both directions; "TE: trailers" and everything else pass.
func TestRelayHopByHopHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Resp-End", "1")
		io.WriteString(w, "ok")
	})
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))
	resp, body := rg.do("GET", "/", http.Header{"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Proxy-Connection": {"keep-alive"},
		"Te": {"trailers"}, "Proxy-Authorization": {"Basic eA=="}, "X-End": {"1"}, "User-Agent": {""}}, nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	h := <-seen
	for _, k := range []string{"X-Hop", "Proxy-Connection", "Proxy-Authorization"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream got hop-by-hop %s: %q", k, v)
		}
	}
	if h.Get("X-End") != "1" || h.Get("Te") != "trailers" || h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Request-Id") == "" {
		t.Errorf("upstream headers %v", h)
	}
	if v, ok := h["User-Agent"]; ok {
		t.Errorf("User-Agent %q: the client sent none, the proxy added one", v)
	}
	if resp.Header.Get("X-Resp-Hop") != "" || resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Resp-End") != "1" {
		t.Errorf("downstream headers %v", resp.Header)
	}
}

// Trailers reach the client, announced or not, over HTTP/2 as gRPC uses
// them and over chunked HTTP/1.1.
func TestRelayTrailers(t *testing.T) {
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Announced")
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "body")
		w.Header().Set("X-Announced", "a")
		w.Header().Set(http.TrailerPrefix+"X-Late", "b")
	})
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}, h2c: h2}}, table(vhost(clusterRoute("c"))))
			if h2 {
				rg.client = h2cClient()
			}
			resp, body := rg.do("GET", "/", nil, nil)
			if resp.StatusCode != 200 || body != "body" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if resp.Trailer.Get("X-Announced") != "a" || resp.Trailer.Get("X-Late") != "b" {
				t.Errorf("trailers %v", resp.Trailer)
			}
		})
	}
}

// A response of unknown length is flushed as it comes: the client reads
// the first event while the upstream still holds the second.
func TestRelayStreamsUnknownLength(t *testing.T) {
	release := make(chan struct{})
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: two\n\n")
	})
	defer close(release)
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))
	resp, err := rg.client.Get(rg.front.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
}

// A WebSocket-style upgrade: the 101 reaches the client and bytes then flow
// both ways over the same connections.
func TestRelayUpgrade(t *testing.T) {
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))
	conn, err := net.Dial("tcp", rg.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("%q, %v", line, err)
	}
	conn.Close()
	if i := rg.last(); i.Status != http.StatusSwitchingProtocols || i.RequestBytes != 6 || i.ResponseBytes != int64(len(line)) {
		t.Errorf("info: status %d, request bytes %d, response bytes %d", i.Status, i.RequestBytes, i.ResponseBytes)
	}
}

// An upstream that switches to another protocol than asked is a protocol
// error, answered 502 with UPE.
func TestRelayUpgradeMismatch(t *testing.T) {
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, _ := http.NewResponseController(w).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
		brw.Flush()
	})
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))
	resp, _ := rg.do("GET", "/ws", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if i := rg.last(); i.Flags != UpstreamProtocolError {
		t.Errorf("flags %s", i.Flags)
	}
}

// A client that goes away while a response streams is DC, and the
// upstream request ends with it.
func TestRelayClientGoneMidResponse(t *testing.T) {
	upstreamDone := make(chan struct{})
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))
	conn, err := net.Dial("tcp", rg.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: svc\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "data: tick\n" {
		t.Fatalf("%q %v", line, err)
	}
	conn.Close()
	select {
	case <-upstreamDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request went on after the client left")
	}
	if i := rg.last(); i.Flags != DownstreamConnectionTermination || i.Status != 200 {
		t.Errorf("flags %s, status %d", i.Flags, i.Status)
	}
}

// Bodies of every framing cross the relay intact: a HEAD's length without
// a body, 204 and 304 without one, a chunked upload, and a large response
// of known and of unknown length.
func TestRelayBodies(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/upload":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %v", len(b), r.TransferEncoding)
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
		case "/big-chunked":
			for i := 0; i < len(big); i += 100 << 10 {
				io.WriteString(w, big[i:min(i+100<<10, len(big))])
				w.(http.Flusher).Flush()
			}
		}
	})
	rg := newRig(t, []clusterSpec{{name: "c", addrs: []string{addr}}}, table(vhost(clusterRoute("c"))))

	if resp, body := rg.do("HEAD", "/head", nil, nil); resp.StatusCode != 200 || resp.ContentLength != 1234 || body != "" {
		t.Errorf("HEAD: %d, length %d, body %q", resp.StatusCode, resp.ContentLength, body)
	}
	for _, c := range []struct {
		path   string
		status int
	}{{"/204", 204}, {"/304", 304}} {
		if resp, body := rg.do("GET", c.path, nil, nil); resp.StatusCode != c.status || body != "" {
			t.Errorf("%s: %d %q", c.path, resp.StatusCode, body)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		for range 10 {
			pw.Write([]byte(strings.Repeat("x", 1000)))
		}
		pw.Close()
	}()
	if resp, body := rg.do("POST", "/upload", nil, pr); resp.StatusCode != 200 || body != "10000 [chunked]" {
		t.Errorf("chunked upload: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"/big", "/big-chunked"} {
		resp, body := rg.do("GET", p, nil, nil)
		if resp.StatusCode != 200 || body != big {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
		if i := rg.last(); i.ResponseBytes != int64(len(big)) {
			t.Errorf("%s: %d response bytes counted", p, i.ResponseBytes)
		}
	}
}
