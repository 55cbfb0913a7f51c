// Package fault is the HTTP fault injection filter
// (envoy.filters.http.fault): a fixed delay and an abort with an HTTP or
// gRPC status, each applied to a fraction of requests, configured on the
// filter or, replacing that, per route (Istio's VirtualService fault).
package fault

import (
	"errors"
	"fmt"
	"github.com/halyard-mesh/halyard/internal/proxy/xdsconv"
	"net/http"
	"sync/atomic"
	"time"

	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// Name is the filter's name.
const Name = "envoy.filters.http.fault"

const configType = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

func init() {
	filter.Register(&filter.Factory{
		Name:          Name,
		ConfigTypes:   []string{configType},
		PerRouteTypes: []string{configType},
		New:           newFilter,
		PerRoute:      func(a *anypb.Any) (any, error) { return parse(a) },
	})
}

// Config is a compiled HTTPFault.
type Config struct {
	Delay         time.Duration
	DelayFraction router.Fraction
	// HTTPStatus or, when HasGRPCStatus, GRPCStatus is the abort; no
	// abort when both are unset.
	HTTPStatus    int
	GRPCStatus    int
	HasGRPCStatus bool
	AbortFraction router.Fraction
	AbortBody     string
	// MaxActive bounds the requests being faulted at once (0: no bound).
	MaxActive uint32
}

func (c *Config) hasAbort() bool { return c.HTTPStatus != 0 || c.HasGRPCStatus }

func parse(a *anypb.Any) (*Config, error) {
	pb := &faultv3.HTTPFault{}
	if a != nil {
		if err := a.UnmarshalTo(pb); err != nil {
			return nil, err
		}
	}
	return Compile(pb)
}

// Compile checks and compiles an HTTPFault. Parts the proxy does not
// implement are rejected rather than ignored, so a fault never applies to
// more requests than configured.
func Compile(pb *faultv3.HTTPFault) (*Config, error) {
	switch {
	case len(pb.GetHeaders()) > 0:
		return nil, errors.New("fault: headers matchers are not supported (match in the route)")
	case len(pb.GetDownstreamNodes()) > 0:
		return nil, errors.New("fault: downstream_nodes is not supported")
	case pb.GetUpstreamCluster() != "":
		return nil, errors.New("fault: upstream_cluster is not supported")
	case pb.GetResponseRateLimit() != nil:
		return nil, errors.New("fault: response_rate_limit is not supported")
	}
	c := &Config{AbortBody: "fault filter abort"}
	if d := pb.GetDelay(); d != nil {
		if d.GetHeaderDelay() != nil {
			return nil, errors.New("fault: header_delay is not supported")
		}
		fd := d.GetFixedDelay()
		if fd == nil {
			return nil, errors.New("fault: delay without fixed_delay")
		}
		if err := fd.CheckValid(); err != nil {
			return nil, fmt.Errorf("fault: fixed_delay: %w", err)
		}
		c.Delay = fd.AsDuration()
		if c.Delay < 0 {
			return nil, errors.New("fault: negative fixed_delay")
		}
		c.DelayFraction = xdsconv.Fraction(d.GetPercentage())
	}
	if ab := pb.GetAbort(); ab != nil {
		switch t := ab.GetErrorType().(type) {
		case *faultv3.FaultAbort_HttpStatus:
			if t.HttpStatus < 200 || t.HttpStatus >= 600 {
				return nil, fmt.Errorf("fault: abort http_status %d out of range", t.HttpStatus)
			}
			c.HTTPStatus = int(t.HttpStatus)
		case *faultv3.FaultAbort_GrpcStatus:
			c.GRPCStatus, c.HasGRPCStatus = int(t.GrpcStatus), true
		case *faultv3.FaultAbort_HeaderAbort_:
			return nil, errors.New("fault: header_abort is not supported")
		default:
			return nil, errors.New("fault: abort without a status")
		}
		c.AbortFraction = xdsconv.Fraction(ab.GetPercentage())
		if b := ab.GetResponseBody(); b != "" {
			c.AbortBody = b
		}
	}
	if m := pb.GetMaxActiveFaults(); m != nil {
		c.MaxActive = m.GetValue()
		if c.MaxActive == 0 {
			// Envoy: 0 active faults allowed means no faults.
			c.DelayFraction, c.AbortFraction = router.Fraction{}, router.Fraction{}
		}
	}
	return c, nil
}

type faultFilter struct {
	cfg    *Config // the filter-level config
	slot   int
	active atomic.Int64
}

func newFilter(a *anypb.Any, slot int) (hcm.Filter, error) {
	cfg, err := parse(a)
	if err != nil {
		return nil, err
	}
	return &faultFilter{cfg: cfg, slot: slot}, nil
}

// OnRequest applies the route's fault (else the filter's), as Envoy's
// FaultFilter: the delay first (flag DI), then the abort (flag FI) with an
// HTTP status (a gRPC request gets it as a gRPC status) or a gRPC status
// (a trailers-only gRPC response). The delay runs before the router, so
// it does not count against the route timeout.
func (f *faultFilter) OnRequest(x *hcm.Exchange) bool {
	cfg := f.cfg
	if v := x.PerRoute(f.slot); v != nil {
		if v == filter.Disabled {
			return true
		}
		cfg = v.(*Config)
	}
	delay := cfg.Delay > 0 && cfg.DelayFraction.Hit()
	abort := cfg.hasAbort() && cfg.AbortFraction.Hit()
	if !delay && !abort {
		return true
	}
	if cfg.MaxActive > 0 {
		if f.active.Add(1) > int64(cfg.MaxActive) {
			f.active.Add(-1)
			return true
		}
		defer f.active.Add(-1)
	}
	if delay {
		x.Info.Flags |= hcm.DelayInjected
		x.Info.Details = "fault filter delay " + cfg.Delay.String()
		t := time.NewTimer(cfg.Delay)
		select {
		case <-t.C:
		case <-x.Request.Context().Done():
			t.Stop()
			x.Info.Flags |= hcm.DownstreamConnectionTermination
			return false
		}
	}
	if !abort {
		return true
	}
	if cfg.HasGRPCStatus {
		x.SendGRPCStatus(cfg.GRPCStatus, cfg.AbortBody, hcm.FaultInjected, "fault filter abort")
	} else {
		x.SendLocalReply(cfg.HTTPStatus, hcm.FaultInjected, "fault filter abort", cfg.AbortBody)
	}
	return false
}

func (f *faultFilter) OnResponse(*hcm.Exchange, int, http.Header) {}
