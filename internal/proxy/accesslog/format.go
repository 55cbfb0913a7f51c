// Package accesslog writes Envoy-style access logs: a format string of
// command operators (%START_TIME%, %REQ(:METHOD)%, %RESPONSE_FLAGS%, ...)
// or a JSON object of them, one line per request, to a file or stdout.
package accesslog

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// DefaultFormat is Istio's default text format (MeshConfig
// accessLogFormat unset, accessLogEncoding TEXT).
const DefaultFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ` +
	`"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ` +
	`"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% ` +
	`%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"

// operator extracts one value; ok false prints "-" (text) or null (JSON).
type operator func(info *hcm.RequestInfo) (string, bool)

// part is a literal (op nil) or an operator.
type part struct {
	lit string
	op  operator
}

// Format is a parsed format string.
type Format struct {
	parts []part
}

// ParseFormat parses an Envoy format string. An unknown operator is an
// error.
func ParseFormat(s string) (*Format, error) {
	f := &Format{}
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			f.parts = append(f.parts, part{lit: s})
			break
		}
		if i > 0 {
			f.parts = append(f.parts, part{lit: s[:i]})
		}
		s = s[i+1:]
		j := strings.IndexByte(s, '%')
		if j < 0 {
			return nil, errors.New("accesslog: unterminated command operator")
		}
		if j == 0 { // "%%" is a literal percent
			f.parts = append(f.parts, part{lit: "%"})
			s = s[1:]
			continue
		}
		op, err := parseOperator(s[:j])
		if err != nil {
			return nil, err
		}
		f.parts = append(f.parts, part{op: op})
		s = s[j+1:]
	}
	return f, nil
}

// Append appends the formatted request (text: "-" for missing values).
func (f *Format) Append(b []byte, info *hcm.RequestInfo) []byte {
	for _, p := range f.parts {
		if p.op == nil {
			b = append(b, p.lit...)
			continue
		}
		if v, ok := p.op(info); ok {
			b = append(b, v...)
		} else {
			b = append(b, '-')
		}
	}
	return b
}

// value is the format as one JSON value: a single operator gives its value
// (null when missing), anything else a string.
func (f *Format) value(info *hcm.RequestInfo) (string, bool) {
	if len(f.parts) == 1 && f.parts[0].op != nil {
		return f.parts[0].op(info)
	}
	return string(f.Append(nil, info)), true
}

func parseOperator(s string) (operator, error) {
	name, arg, hasArg := strings.Cut(s, "(")
	if hasArg {
		a, _, ok := strings.Cut(arg, ")")
		if !ok {
			return nil, fmt.Errorf("accesslog: operator %%%s%%: missing )", s)
		}
		switch name {
		case "REQ":
			return reqHeader(a), nil
		case "RESP":
			return respHeader(a), nil
		case "START_TIME":
			return startTime, nil // strftime formats are not supported: RFC 3339 ms
		}
		return nil, fmt.Errorf("accesslog: unsupported command operator %%%s%%", s)
	}
	if op, ok := operators[name]; ok {
		return op, nil
	}
	return nil, fmt.Errorf("accesslog: unsupported command operator %%%s%%", s)
}

func some(s string) (string, bool) { return s, s != "" }

var operators = map[string]operator{
	"START_TIME":     startTime,
	"PROTOCOL":       func(i *hcm.RequestInfo) (string, bool) { return i.Protocol, i.Protocol != "" },
	"RESPONSE_CODE":  func(i *hcm.RequestInfo) (string, bool) { return strconv.Itoa(i.Status), true },
	"RESPONSE_FLAGS": func(i *hcm.RequestInfo) (string, bool) { return i.Flags.String(), true },
	"RESPONSE_CODE_DETAILS": func(i *hcm.RequestInfo) (string, bool) {
		if i.Details == "" && i.Status != 0 && i.Flags == 0 {
			return "via_upstream", true
		}
		return some(strings.ReplaceAll(i.Details, " ", "_"))
	},
	"CONNECTION_TERMINATION_DETAILS":    none,
	"UPSTREAM_TRANSPORT_FAILURE_REASON": none,
	"REQUESTED_SERVER_NAME":             none,
	"UPSTREAM_LOCAL_ADDRESS":            none,
	"BYTES_RECEIVED":                    func(i *hcm.RequestInfo) (string, bool) { return strconv.FormatInt(i.RequestBytes, 10), true },
	"BYTES_SENT":                        func(i *hcm.RequestInfo) (string, bool) { return strconv.FormatInt(i.ResponseBytes, 10), true },
	"DURATION":                          func(i *hcm.RequestInfo) (string, bool) { return strconv.FormatInt(i.Duration.Milliseconds(), 10), true },
	"UPSTREAM_HOST":                     func(i *hcm.RequestInfo) (string, bool) { return some(i.UpstreamHost) },
	"UPSTREAM_CLUSTER":                  func(i *hcm.RequestInfo) (string, bool) { return some(i.Cluster) },
	"UPSTREAM_CLUSTER_RAW":              func(i *hcm.RequestInfo) (string, bool) { return some(i.Cluster) },
	"ROUTE_NAME":                        func(i *hcm.RequestInfo) (string, bool) { return some(i.Route) },
	"GRPC_STATUS": func(i *hcm.RequestInfo) (string, bool) {
		return strconv.Itoa(i.GRPCStatus), i.GRPCStatus >= 0
	},
	"UPSTREAM_REQUEST_ATTEMPT_COUNT": func(i *hcm.RequestInfo) (string, bool) { return strconv.Itoa(i.Attempts), true },
	"DOWNSTREAM_REMOTE_ADDRESS": func(i *hcm.RequestInfo) (string, bool) {
		if i.Remote.IsValid() {
			return i.Remote.String(), true
		}
		if i.Request == nil {
			return "", false
		}
		return some(i.Request.RemoteAddr)
	},
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": func(i *hcm.RequestInfo) (string, bool) {
		if i.Remote.IsValid() {
			return i.Remote.Addr().String(), true
		}
		return "", false
	},
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS": func(i *hcm.RequestInfo) (string, bool) {
		if i.Request == nil {
			return "", false
		}
		return some(i.Request.RemoteAddr)
	},
	"DOWNSTREAM_LOCAL_ADDRESS": func(i *hcm.RequestInfo) (string, bool) {
		if i.Request == nil {
			return "", false
		}
		if a, ok := i.Request.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			return a.String(), true
		}
		return "", false
	},
}

func none(*hcm.RequestInfo) (string, bool) { return "", false }

func startTime(i *hcm.RequestInfo) (string, bool) {
	return i.Start.UTC().Format("2006-01-02T15:04:05.000Z"), !i.Start.IsZero()
}

// reqHeader is %REQ(H?ALT)%: a request header (or pseudo-header), else
// the alternative.
func reqHeader(arg string) operator {
	main, alt, _ := strings.Cut(arg, "?")
	get := func(i *hcm.RequestInfo, h string) string {
		r := i.Request
		switch strings.ToLower(h) {
		case ":method":
			return i.Method
		case ":path":
			if r == nil {
				return i.Path
			}
			if u := r.RequestURI; u != "" && u[0] == '/' {
				return u
			}
			return r.URL.RequestURI()
		case ":authority":
			return i.Authority
		case "":
			return ""
		}
		if r == nil {
			return ""
		}
		return r.Header.Get(h)
	}
	return func(i *hcm.RequestInfo) (string, bool) {
		if v := get(i, main); v != "" {
			return v, true
		}
		return some(get(i, alt))
	}
}

// respHeader is %RESP(H)%; the proxy keeps no response headers for the
// log, so only what RequestInfo knows is available.
func respHeader(string) operator { return none }
