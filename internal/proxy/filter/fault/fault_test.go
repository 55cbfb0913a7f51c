package fault_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonfault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/fault"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/filtertest"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

func anyOf(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func perMillion(n uint32) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_MILLION}
}

func abort(status uint32, pct *typev3.FractionalPercent) *faultv3.FaultAbort {
	return &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: status}, Percentage: pct}
}

func delay(d time.Duration, pct *typev3.FractionalPercent) *commonfault.FaultDelay {
	return &commonfault.FaultDelay{FaultDelaySecifier: &commonfault.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d)}, Percentage: pct}
}

// start runs the fault filter (listener config lc) with one route per
// per-route config, at /<name>.
func start(t *testing.T, lc *faultv3.HTTPFault, routes map[string]*anypb.Any, timeout time.Duration) *filtertest.Proxy {
	t.Helper()
	e := filter.Lookup(fault.Name, "")
	f, err := e.New(anyOf(lc), e.Slot())
	if err != nil {
		t.Fatal(err)
	}
	var vh router.VirtualHostConfig
	for name, cfg := range routes {
		rc := router.RouteConfig{Name: name, Match: router.Match{PathKind: router.PathPrefix, Path: "/" + name},
			Action: router.Action{Cluster: "up", Timeout: timeout}}
		if cfg != nil {
			pf, err := filter.PerFilterConfigs(map[string]*anypb.Any{fault.Name: cfg})
			if err != nil {
				t.Fatal(err)
			}
			rc.PerFilter = pf
		}
		vh.Routes = append(vh.Routes, rc)
	}
	return filtertest.Start(t, []hcm.Filter{f}, vh)
}

// TestAbortPercentage: an 80% abort hits 75-85% of 1000 requests.
func TestAbortPercentage(t *testing.T) {
	p := start(t, &faultv3.HTTPFault{}, map[string]*anypb.Any{
		"abort": anyOf(&faultv3.HTTPFault{Abort: abort(503, perMillion(800000))}),
	}, 0)
	c := &http.Client{}
	aborted := 0
	const n = 1000
	for range n {
		resp, body := p.Do(t, c, "GET", "/abort", nil)
		info := p.Info(t)
		switch resp.StatusCode {
		case 503:
			aborted++
			if body != "fault filter abort" || info.Flags != hcm.FaultInjected {
				t.Fatalf("abort: body %q flags %v", body, info.Flags)
			}
		case 200:
			if info.Flags != 0 {
				t.Fatalf("not aborted but flags %v", info.Flags)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	t.Logf("80%% abort: %d of %d requests aborted", aborted, n)
	if aborted < 750 || aborted > 850 {
		t.Errorf("%d of %d aborted, want 75-85%%", aborted, n)
	}
	if got := p.Upstream.Load(); got != int64(n-aborted) {
		t.Errorf("upstream saw %d requests, want %d", got, n-aborted)
	}
}

func TestFaults(t *testing.T) {
	grpcAbort := &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_GrpcStatus{GrpcStatus: 14}, Percentage: perMillion(1000000)}
	disabled := anyOf(&routev3.FilterConfig{Disabled: true})
	p := start(t, &faultv3.HTTPFault{Abort: abort(500, &typev3.FractionalPercent{Numerator: 100})}, map[string]*anypb.Any{
		"delay":    anyOf(&faultv3.HTTPFault{Delay: delay(60*time.Millisecond, &typev3.FractionalPercent{Numerator: 100})}),
		"both":     anyOf(&faultv3.HTTPFault{Delay: delay(30*time.Millisecond, perMillion(1000000)), Abort: abort(418, perMillion(1000000))}),
		"grpc":     anyOf(&faultv3.HTTPFault{Abort: grpcAbort}),
		"zero":     anyOf(&faultv3.HTTPFault{Abort: abort(503, nil)}),
		"off":      disabled,
		"listener": nil,
	}, 20*time.Millisecond)
	c := &http.Client{}
	for _, tc := range []struct {
		path       string
		ct         string
		status     int
		grpcStatus string
		flags      hcm.Flags
		minDelay   time.Duration
	}{
		// 60 ms of delay does not count against the 20 ms route timeout.
		{"/delay", "", 200, "", hcm.DelayInjected, 60 * time.Millisecond},
		{"/both", "", 418, "", hcm.DelayInjected | hcm.FaultInjected, 30 * time.Millisecond},
		{"/grpc", "application/grpc", 200, "14", hcm.FaultInjected, 0},
		{"/grpc", "", 200, "14", hcm.FaultInjected, 0},
		{"/zero", "", 200, "", 0, 0},
		{"/off", "", 200, "", 0, 0},
		{"/listener", "", 500, "", hcm.FaultInjected, 0},
	} {
		hdr := http.Header{}
		if tc.ct != "" {
			hdr.Set("Content-Type", tc.ct)
		}
		start := time.Now()
		resp, _ := p.Do(t, c, "POST", tc.path, hdr)
		took := time.Since(start)
		info := p.Info(t)
		if resp.StatusCode != tc.status || resp.Header.Get("Grpc-Status") != tc.grpcStatus || info.Flags != tc.flags || took < tc.minDelay {
			t.Errorf("%s %s: status %d grpc-status %q flags %v after %s", tc.path, tc.ct, resp.StatusCode, resp.Header.Get("Grpc-Status"), info.Flags, took)
		}
	}
}

func TestCompile(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *faultv3.HTTPFault
		err  string
	}{
		{"empty", &faultv3.HTTPFault{}, ""},
		{"headers", &faultv3.HTTPFault{Headers: []*routev3.HeaderMatcher{{Name: "x"}}}, "headers"},
		{"header delay", &faultv3.HTTPFault{Delay: &commonfault.FaultDelay{FaultDelaySecifier: &commonfault.FaultDelay_HeaderDelay_{HeaderDelay: &commonfault.FaultDelay_HeaderDelay{}}}}, "header_delay"},
		{"bad status", &faultv3.HTTPFault{Abort: abort(99, nil)}, "out of range"},
		{"upstream cluster", &faultv3.HTTPFault{UpstreamCluster: "c"}, "upstream_cluster"},
	} {
		_, err := fault.Compile(tc.in)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	c, err := fault.Compile(&faultv3.HTTPFault{Delay: delay(time.Second, &typev3.FractionalPercent{Numerator: 5, Denominator: typev3.FractionalPercent_TEN_THOUSAND}),
		MaxActiveFaults: wrapperspb.UInt32(0)})
	if err != nil || c.DelayFraction.Numerator != 0 {
		t.Errorf("max_active_faults 0 should disable faults: %+v %v", c, err)
	}
	_ = corev3.RoutingPriority_DEFAULT
}

// TestMaxActiveFaults: with max_active_faults 1, of two requests sent
// together only one is delayed.
func TestMaxActiveFaults(t *testing.T) {
	p := start(t, &faultv3.HTTPFault{}, map[string]*anypb.Any{
		"d": anyOf(&faultv3.HTTPFault{Delay: delay(500*time.Millisecond, perMillion(1000000)), MaxActiveFaults: wrapperspb.UInt32(1)}),
	}, 0)
	c := &http.Client{}
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, _ := p.Do(t, c, "GET", "/d", nil)
			done <- resp.StatusCode
		}()
	}
	delayed := 0
	for range 2 {
		if s := <-done; s != 200 {
			t.Fatalf("status %d", s)
		}
		if p.Info(t).Flags == hcm.DelayInjected {
			delayed++
		}
	}
	if delayed != 1 {
		t.Errorf("%d of 2 concurrent requests delayed, want 1", delayed)
	}
}
