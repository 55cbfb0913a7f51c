package sidecar_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/halyard-mesh/halyard/internal/proxy/admin"
	"github.com/halyard-mesh/halyard/internal/proxy/sidecar"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsclient"
	x "github.com/halyard-mesh/halyard/internal/proxy/xdstest"
)

const (
	nodeID  = "sidecar~127.0.0.1~productpage-v1-0.default~default.svc.cluster.local"
	reviews = "reviews.default.svc.cluster.local"
	v1      = "outbound|9080|v1|" + reviews
	v2      = "outbound|9080|v2|" + reviews
	ratings = "outbound|9080||ratings.default.svc.cluster.local"
	details = "outbound|9080||details.default.svc.cluster.local"
	echo    = "outbound|50051||grpc-echo.default.svc.cluster.local"
	viaSide = "outbound|50051||grpc-sidecar.default.svc.cluster.local"
)

// adsServer is a go-control-plane ADS server that records requests.
type adsServer struct {
	addr  string
	cache cachev3.SnapshotCache
	reqs  chan *discoveryv3.DiscoveryRequest
}

func startADS(t *testing.T) *adsServer {
	t.Helper()
	s := &adsServer{cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), reqs: make(chan *discoveryv3.DiscoveryRequest, 10000)}
	ctx, cancel := context.WithCancel(context.Background())
	srv := serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
			select {
			case s.reqs <- req:
			default:
			}
			return nil
		},
	})
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); cancel() })
	return s
}

// await reads requests until one satisfies pred.
func (s *adsServer) await(t *testing.T, what string, pred func(*discoveryv3.DiscoveryRequest) bool) *discoveryv3.DiscoveryRequest {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case r := <-s.reqs:
			if pred(r) {
				return r
			}
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// awaitACK waits until every one of typeURLs has ACKed version.
func (s *adsServer) awaitACK(t *testing.T, version string, typeURLs ...string) {
	t.Helper()
	pending := map[string]bool{}
	for _, u := range typeURLs {
		pending[u] = true
	}
	s.await(t, "ACK of "+version, func(r *discoveryv3.DiscoveryRequest) bool {
		if r.GetVersionInfo() == version && r.GetErrorDetail() == nil {
			delete(pending, r.GetTypeUrl())
		}
		return len(pending) == 0
	})
}

func (s *adsServer) set(t *testing.T, version string, res map[resourcev3.Type][]types.Resource) {
	t.Helper()
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		t.Fatal(err)
	}
	if err := s.cache.SetSnapshot(context.Background(), nodeID, snap); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func hostPort(t *testing.T, addr string) [2]any {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(p, &port)
	return [2]any{h, port}
}

// httpBackend answers with its name and what it saw.
func httpBackend(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Forwarded-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Proxy-Connection", r.Header.Get("Proxy-Connection"))
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
	id string
}

func (e *echoServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: e.id}, nil
}

func (e *echoServer) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		body := append([]byte(e.id+":"), req.GetPayload().GetBody()...)
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: body}}); err != nil {
			return err
		}
	}
}

func grpcBackend(t *testing.T, id string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(g, &echoServer{id: id})
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

type world struct {
	v1, v2, app *httptest.Server
	grpcAddrs   []string
	inboundHTTP int // port of inbound|8080
	inboundGRPC int // port of inbound|50051
}

// resources builds a snapshot shaped per the xDS conventions. routes9080
// replaces the default 9080 route configuration when non-nil.
func (w *world) resources(t *testing.T, routes9080 *routev3.RouteConfiguration) map[resourcev3.Type][]types.Resource {
	if routes9080 == nil {
		routes9080 = x.RouteConfig("9080",
			x.VirtualHost("reviews", "default", "9080",
				x.HeaderExact(x.PrefixRoute("/", v2), "end-user", "jason"),
				x.WeightedRoute("/", v1, 95, v2, 5)),
			x.VirtualHost("ratings", "default", "9080", x.PrefixRoute("/", ratings)),
			x.VirtualHost("details", "default", "9080", x.PrefixRoute("/", details)))
	}
	routes50051 := x.RouteConfig("50051",
		x.VirtualHost("grpc-echo", "default", "50051", x.PrefixRoute("/", echo)),
		x.VirtualHost("grpc-sidecar", "default", "50051", x.PrefixRoute("/", viaSide)))
	var echoEPs [][2]any
	for _, a := range w.grpcAddrs {
		echoEPs = append(echoEPs, hostPort(t, a))
	}
	return map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {
			x.VirtualOutbound("127.0.0.1", 0),
			x.OutboundHTTP(9080, "0.0.0.0_9080"),
			x.OutboundHTTP(50051, "0.0.0.0_50051"),
			x.Inbound("inbound|8080", "127.0.0.1", uint32(w.inboundHTTP), "inbound|8080||"),
			x.Inbound("inbound|50051", "127.0.0.1", uint32(w.inboundGRPC), "inbound|50051||"),
		},
		resourcev3.RouteType: {routes9080, routes50051},
		resourcev3.ClusterType: {
			x.EDSCluster(v1, false), x.EDSCluster(v2, false), x.EDSCluster(ratings, false),
			x.EDSCluster(echo, true), x.EDSCluster(viaSide, true),
			x.StaticCluster("inbound|8080||", true, hostPort(t, w.app.Listener.Addr().String())),
			x.StaticCluster("inbound|50051||", true, hostPort(t, w.grpcAddrs[0])),
			x.PassthroughCluster(),
		},
		resourcev3.EndpointType: {
			x.CLA(v1, hostPort(t, w.v1.Listener.Addr().String())),
			x.CLA(v2, hostPort(t, w.v2.Listener.Addr().String())),
			x.CLA(ratings),
			x.CLA(echo, echoEPs...),
			x.CLA(viaSide, [2]any{"127.0.0.1", w.inboundGRPC}),
		},
	}
}

func TestIntegration(t *testing.T) {
	ads := startADS(t)
	w := &world{v1: httpBackend(t, "v1"), v2: httpBackend(t, "v2"), inboundHTTP: freePort(t), inboundGRPC: freePort(t)}
	// The local app behind inbound|8080 speaks h2c only.
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	w.app = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.WriteString(rw, "app "+r.Proto)
	}))
	w.app.Config.Protocols = &h2
	w.app.Start()
	t.Cleanup(w.app.Close)
	for i := range 3 {
		w.grpcAddrs = append(w.grpcAddrs, grpcBackend(t, fmt.Sprint("echo-", i)))
	}

	conn, err := grpc.NewClient(ads.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithNoProxy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p := sidecar.New(sidecar.Options{Node: &corev3.Node{Id: nodeID}, XDS: conn, Log: log,
		DrainTimeout: 2 * time.Second, NackBackoffBase: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	adminSrv := httptest.NewServer(admin.Handler(p))
	defer adminSrv.Close()
	adminClient := &http.Client{Transport: &http.Transport{}} // never http.ProxyFromEnvironment: see the gRPC test
	if code := getStatus(t, adminClient, adminSrv.URL+"/healthz/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("ready before config: %d, want 503", code)
	}

	ads.set(t, "1", w.resources(t, nil))
	select {
	case <-p.ReadyC():
	case <-time.After(20 * time.Second):
		t.Fatal("proxy not ready")
	}
	if code := getStatus(t, adminClient, adminSrv.URL+"/healthz/ready"); code != http.StatusOK {
		t.Fatalf("ready: %d, want 200", code)
	}
	outbound := p.ListenerAddr("virtualOutbound").String()
	proxyURL := &url.URL{Scheme: "http", Host: outbound}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	t.Run("weighted 95/5", func(t *testing.T) {
		counts := map[string]int{}
		for range 2000 {
			counts[get(t, client, "http://reviews:9080/reviews/1", nil).backend]++
		}
		pct := float64(counts["v2"]) / 20
		t.Logf("v1=%d v2=%d (v2 %.2f%%)", counts["v1"], counts["v2"], pct)
		if pct < 3.5 || pct > 6.5 || counts["v1"]+counts["v2"] != 2000 {
			t.Errorf("split %v, want v2 within 3.5–6.5%%", counts)
		}
	})

	t.Run("header route", func(t *testing.T) {
		for range 20 {
			if r := get(t, client, "http://reviews.default.svc.cluster.local:9080/", http.Header{"End-User": {"jason"}}); r.backend != "v2" {
				t.Fatalf("end-user jason went to %q", r.backend)
			}
		}
	})

	t.Run("forwarded headers", func(t *testing.T) {
		r := get(t, client, "http://reviews:9080/", http.Header{"End-User": {"jason"}})
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(r.hdr.Get("X-Seen-Request-Id")) {
			t.Errorf("x-request-id %q is not a UUIDv4", r.hdr.Get("X-Seen-Request-Id"))
		}
		// A sidecar (use_remote_address unset) adds no X-Forwarded-For and
		// passes the client's on as it is, as Envoy does.
		if r.hdr.Get("X-Seen-Forwarded-Proto") != "http" || r.hdr.Get("X-Seen-Forwarded-For") != "" {
			t.Errorf("x-forwarded-*: %v", r.hdr)
		}
		if r := get(t, client, "http://reviews:9080/", http.Header{"X-Forwarded-For": {"203.0.113.7"}}); r.hdr.Get("X-Seen-Forwarded-For") != "203.0.113.7" {
			t.Errorf("x-forwarded-for from the client: the upstream saw %q", r.hdr.Get("X-Seen-Forwarded-For"))
		}
		if r.hdr.Get("X-Seen-Host") != "reviews:9080" || r.hdr.Get("X-Seen-Proxy-Connection") != "" {
			t.Errorf("host/hop-by-hop: %v", r.hdr)
		}
		r = get(t, client, "http://reviews:9080/", http.Header{"End-User": {"jason"}, "X-Request-Id": {"keep-me"}})
		if r.hdr.Get("X-Seen-Request-Id") != "keep-me" {
			t.Errorf("x-request-id not kept: %q", r.hdr.Get("X-Seen-Request-Id"))
		}
	})

	t.Run("local replies", func(t *testing.T) {
		for _, tc := range []struct {
			url  string
			code int
			body string
		}{
			{"http://unknown:9080/", 404, "route not found"},
			// No listener on 9999: the explicit listener's own cluster,
			// PassthroughCluster, to reviews:9999, which does not resolve.
			{"http://reviews:9999/", 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
			{"http://ratings:9080/", 503, "no healthy upstream"},
			{"http://details:9080/", 503, "cluster not found"},
		} {
			r := get(t, client, tc.url, nil)
			if r.code != tc.code || r.body != tc.body {
				t.Errorf("%s: %d %q, want %d %q", tc.url, r.code, r.body, tc.code, tc.body)
			}
		}
		// Origin-form request with a Host header, sent straight to the proxy.
		req, _ := http.NewRequest("GET", "http://"+outbound+"/x", nil)
		req.Host = "reviews:9080"
		req.Header.Set("End-User", "jason")
		resp, err := (&http.Transport{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Backend") != "v2" {
			t.Errorf("origin-form: %d %v", resp.StatusCode, resp.Header)
		}
		// CONNECT to a port without a listener: PassthroughCluster to
		// db:5432, which does not resolve.
		c, err := net.Dial("tcp", outbound)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n")
		cr, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cr.StatusCode != 503 {
			t.Errorf("CONNECT db:5432: %d, want 503", cr.StatusCode)
		}
	})

	t.Run("h2c inbound", func(t *testing.T) {
		var p2 http.Protocols
		p2.SetUnencryptedHTTP2(true)
		c := &http.Client{Transport: &http.Transport{Protocols: &p2}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", w.inboundHTTP))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || string(b) != "app HTTP/2.0" {
			t.Errorf("inbound h2c: %s %q", resp.Proto, b)
		}
		// HTTP/1.1 clients are accepted too; the app still gets h2c.
		r := get(t, &http.Client{Transport: &http.Transport{}}, fmt.Sprintf("http://127.0.0.1:%d/hello", w.inboundHTTP), nil)
		if r.body != "app HTTP/2.0" {
			t.Errorf("inbound http/1.1: %q", r.body)
		}
	})

	t.Run("gRPC through CONNECT", func(t *testing.T) {
		// An unmodified grpc-go client configured by HTTPS_PROXY, as an app
		// in explicit mode is.
		t.Setenv("HTTPS_PROXY", proxyURL.String())
		t.Setenv("NO_PROXY", "")
		dial := func(target string) *grpc.ClientConn {
			t.Helper()
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			probe, _ := http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: target}})
			if probe == nil || probe.Host != outbound {
				// net/http caches the proxy environment per process (e.g.
				// with -count > 1): issue the CONNECT ourselves instead.
				t.Logf("proxy environment cached as %v; using a CONNECT dialer", probe)
				opts = append(opts, grpc.WithNoProxy(), grpc.WithContextDialer(connectDialer(outbound)))
				target = "passthrough:///" + target
			} else {
				target = "dns:///" + target
			}
			cc, err := grpc.NewClient(target, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return cc
		}
		cc := dial("grpc-echo:50051")
		defer cc.Close()
		tc := testgrpc.NewTestServiceClient(cc)
		counts := map[string]int{}
		for range 300 {
			resp, err := tc.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
			if err != nil {
				t.Fatal(err)
			}
			counts[resp.GetServerId()]++
		}
		t.Logf("per-backend calls: %v", counts)
		for i := range 3 {
			if n := counts[fmt.Sprint("echo-", i)]; n < 75 || n > 124 { // 33% ± 8% of 300
				t.Errorf("echo-%d got %d of 300 calls", i, n)
			}
		}

		// Bidi streaming through two proxies: outbound → inbound|50051 → app.
		cc2 := dial("grpc-sidecar:50051")
		defer cc2.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		stream, err := testgrpc.NewTestServiceClient(cc2).FullDuplexCall(sctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			msg := fmt.Sprint("ping-", i)
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(msg)}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(resp.GetPayload().GetBody()); got != "echo-0:"+msg {
				t.Fatalf("bidi: got %q", got)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != io.EOF {
			t.Fatalf("bidi end: %v", err)
		}
	})

	t.Run("route update under load", func(t *testing.T) {
		var failures, total atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := client.Get("http://reviews:9080/load")
					total.Add(1)
					if err != nil {
						failures.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failures.Add(1)
					}
				}
			})
		}
		// Let the load start, then swap the routes: everything to v2.
		for total.Load() < 200 {
			runtimeGosched()
		}
		ads.set(t, "2", w.resources(t, x.RouteConfig("9080",
			x.VirtualHost("reviews", "default", "9080", x.WeightedRoute("/", v1, 0, v2, 100)),
			x.VirtualHost("ratings", "default", "9080", x.PrefixRoute("/", ratings)),
			x.VirtualHost("details", "default", "9080", x.PrefixRoute("/", details)))))
		ads.awaitACK(t, "2", xdsclient.RouteType)
		after := total.Load()
		for total.Load() < after+200 {
			runtimeGosched()
		}
		close(stop)
		wg.Wait()
		t.Logf("%d requests during the update, %d failed", total.Load(), failures.Load())
		if failures.Load() != 0 {
			t.Errorf("%d requests failed during the route update", failures.Load())
		}
		for range 50 {
			if r := get(t, client, "http://reviews:9080/", nil); r.backend != "v2" {
				t.Fatalf("after update went to %q", r.backend)
			}
		}
	})

	t.Run("NACK keeps old routes", func(t *testing.T) {
		ads.set(t, "3-bad", w.resources(t, x.RouteConfig("9080",
			x.VirtualHost("reviews", "default", "9080", x.RegexRoute("/api/([a-z", v1)))))
		nack := ads.await(t, "NACK", func(r *discoveryv3.DiscoveryRequest) bool {
			return r.GetTypeUrl() == xdsclient.RouteType && r.GetErrorDetail() != nil
		})
		msg := nack.GetErrorDetail().GetMessage()
		if !strings.Contains(msg, `xds: route "9080"`) || !strings.Contains(msg, "invalid regex") || nack.GetVersionInfo() != "2" {
			t.Errorf("NACK version %q detail %q", nack.GetVersionInfo(), msg)
		}
		for range 50 {
			if r := get(t, client, "http://reviews:9080/", nil); r.code != 200 || r.backend != "v2" {
				t.Fatalf("after NACK: %d %q", r.code, r.backend)
			}
		}
		var dump strings.Builder
		if err := p.ConfigDump(&dump); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dump.String(), `"rejected_version": "3-bad"`) {
			t.Errorf("config dump does not show the rejected version")
		}
	})

	t.Run("recovery and listener removal", func(t *testing.T) {
		res := w.resources(t, nil)
		res[resourcev3.ListenerType] = res[resourcev3.ListenerType][:4] // drop inbound|50051
		ads.set(t, "4", res)
		ads.awaitACK(t, "4", xdsclient.RouteType, xdsclient.ListenerType)
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", w.inboundGRPC)); err == nil {
			c.Close()
			t.Error("removed listener still accepts connections")
		}
		if r := get(t, client, "http://reviews:9080/", http.Header{"End-User": {"jason"}}); r.backend != "v2" {
			t.Errorf("after recovery: %q", r.backend)
		}
		if p.ListenerAddr("inbound|8080") == nil || p.ListenerAddr("virtualOutbound").String() != outbound {
			t.Error("unchanged listeners must keep their sockets")
		}
	})
}

type result struct {
	code    int
	backend string
	body    string
	hdr     http.Header
}

func get(t *testing.T, c *http.Client, u string, h http.Header) result {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(b), hdr: resp.Header}
}

func getStatus(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// connectDialer dials target through an HTTP proxy with CONNECT.
func connectDialer(proxy string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, target string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", proxy)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK || br.Buffered() > 0 {
			c.Close()
			return nil, fmt.Errorf("CONNECT %s: %v %v", target, resp, err)
		}
		return c, nil
	}
}
