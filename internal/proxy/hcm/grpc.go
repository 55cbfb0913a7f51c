package hcm

import (
	"strconv"
	"time"
)

// parseGRPCTimeout parses a grpc-timeout header value: 1 to 8 digits and a
// unit (H, M, S, m, u, n). ok is false when it is malformed.
func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	var n int64
	for i := 0; i < len(v)-1; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.Duration(n) * unit, true
}

// formatGRPCTimeout encodes d for a grpc-timeout header in the finest unit
// (milliseconds at most) whose value fits in 8 digits, rounding up.
func formatGRPCTimeout(d time.Duration) string {
	const maxValue = 99999999
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}, {time.Hour, "H"}} {
		v := (d + u.d - 1) / u.d
		if v <= maxValue {
			return strconv.FormatInt(int64(max(v, 1)), 10) + u.unit
		}
	}
	return strconv.Itoa(maxValue) + "H"
}

// requestTimeout is the router's timeout for a request, as Envoy's
// FilterUtility::finalTimeout: for a gRPC request on a route with
// max_grpc_timeout, its grpc-timeout header (none when absent), capped at
// max_grpc_timeout unless that is 0; otherwise the route timeout.
func requestTimeout(st *reqState) time.Duration {
	a := &st.route.Action
	if !st.grpc || !a.HasMaxGRPCTimeout {
		return a.Timeout
	}
	var d time.Duration
	if v := st.r.Header["Grpc-Timeout"]; len(v) > 0 {
		if t, ok := parseGRPCTimeout(v[0]); ok {
			d = t
		}
	}
	if a.MaxGRPCTimeout > 0 && (d == 0 || d > a.MaxGRPCTimeout) {
		d = a.MaxGRPCTimeout
	}
	return d
}
