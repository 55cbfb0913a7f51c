package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Fraction is an Envoy FractionalPercent: Numerator out of Denominator
// (100, 10000 or 1000000).
type Fraction struct {
	Numerator   uint32
	Denominator uint32
}

// Hit draws whether one request falls within the fraction. 0% and 100%
// (and more) are decided without drawing.
func (f Fraction) Hit() bool {
	switch {
	case f.Numerator == 0 || f.Denominator == 0:
		return false
	case f.Numerator >= f.Denominator:
		return true
	}
	return rand.Uint32N(f.Denominator) < f.Numerator
}

// Percent returns the fraction as a percentage.
func (f Fraction) Percent() float64 {
	if f.Denominator == 0 {
		return 0
	}
	return 100 * float64(f.Numerator) / float64(f.Denominator)
}

// RegexRewrite is a regex_rewrite: every match of Pattern (RE2, not
// anchored) in the path is replaced by Substitution, in which \1 .. \9
// refer to capture groups (RE2's syntax, as Envoy).
type RegexRewrite struct {
	Pattern      string
	Substitution string
}

type regexRewrite struct {
	re       *regexp.Regexp
	template string // Go's Expand syntax
}

func compileRegexRewrite(rr *RegexRewrite) (*regexRewrite, error) {
	if rr == nil {
		return nil, nil
	}
	re, err := regexp.Compile(rr.Pattern)
	if err != nil {
		return nil, fmt.Errorf("regex_rewrite: invalid regex %q: %w", rr.Pattern, err)
	}
	tmpl, err := re2Substitution(rr.Substitution, re.NumSubexp())
	if err != nil {
		return nil, fmt.Errorf("regex_rewrite: %w", err)
	}
	return &regexRewrite{re: re, template: tmpl}, nil
}

// re2Substitution converts an RE2 rewrite string (\0-\9 for groups, \\ for
// a backslash) into a Go regexp template ($ escaped as $$).
func re2Substitution(s string, groups int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			n := int(s[i+1] - '0')
			if n > groups {
				return "", fmt.Errorf("substitution %q refers to group %d of %d", s, n, groups)
			}
			fmt.Fprintf(&b, "${%d}", n)
			i++
		case c == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case c == '\\':
			return "", fmt.Errorf("substitution %q: invalid escape", s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func (rr *regexRewrite) apply(path string) string {
	return rr.re.ReplaceAllString(path, rr.template)
}

// Redirect is a redirect action (envoy.config.route.v3.RedirectAction).
type Redirect struct {
	// Scheme replaces the scheme (scheme_redirect; "https" for https_redirect).
	Scheme string
	// Host replaces the host (host_redirect).
	Host string
	// Port, when non-zero, replaces the port (port_redirect).
	Port uint32
	// Path replaces the path (path_redirect); with a query it also
	// replaces the query.
	Path string
	// PrefixRewrite / RegexRewrite rewrite the path as a route would.
	PrefixRewrite string
	RegexRewrite  *RegexRewrite
	// Code is the status: 301 (default), 302, 303, 307 or 308.
	Code       int
	StripQuery bool
}

// RetryOn is a set of Envoy retry conditions (retry_on).
type RetryOn uint32

// Retry conditions (x-envoy-retry-on and x-envoy-retry-grpc-on values).
const (
	Retry5xx RetryOn = 1 << iota
	RetryGatewayError
	RetryReset
	RetryResetBeforeRequest
	RetryConnectFailure
	RetryRefusedStream
	RetryRetriable4xx
	RetryStatusCodes
	RetryEnvoyRateLimited
	RetryGRPCCancelled
	RetryGRPCDeadlineExceeded
	RetryGRPCInternal
	RetryGRPCResourceExhausted
	RetryGRPCUnavailable
)

var retryOnNames = map[string]RetryOn{
	"5xx":                    Retry5xx,
	"gateway-error":          RetryGatewayError,
	"reset":                  RetryReset,
	"reset-before-request":   RetryResetBeforeRequest,
	"connect-failure":        RetryConnectFailure,
	"refused-stream":         RetryRefusedStream,
	"retriable-4xx":          RetryRetriable4xx,
	"retriable-status-codes": RetryStatusCodes,
	"envoy-ratelimited":      RetryEnvoyRateLimited,
	"cancelled":              RetryGRPCCancelled,
	"deadline-exceeded":      RetryGRPCDeadlineExceeded,
	"internal":               RetryGRPCInternal,
	"resource-exhausted":     RetryGRPCResourceExhausted,
	"unavailable":            RetryGRPCUnavailable,
}

// ParseRetryOn parses a comma-separated retry_on. Unknown conditions are
// returned separately (Envoy ignores them).
func ParseRetryOn(s string) (on RetryOn, unknown []string) {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if f, ok := retryOnNames[part]; ok {
			on |= f
		} else {
			unknown = append(unknown, part)
		}
	}
	return on, unknown
}

const grpcRetryConditions = RetryGRPCCancelled | RetryGRPCDeadlineExceeded | RetryGRPCInternal | RetryGRPCResourceExhausted | RetryGRPCUnavailable

// Default and maximum back-off, as Envoy's: base 25 ms, max 10 × base.
const (
	DefaultRetryBaseInterval = 25 * time.Millisecond
	maxIntervalFactor        = 10
)

// RetryPolicy is a route's retry_policy.
type RetryPolicy struct {
	NumRetries uint32
	On         RetryOn
	// StatusCodes are the retriable_status_codes (with retriable-status-codes).
	StatusCodes []uint32
	// PerTryTimeout bounds each attempt until its response headers; 0: none.
	PerTryTimeout time.Duration
	// BaseInterval and MaxInterval shape the back-off; 0 means Envoy's
	// defaults (25 ms, 10 × base).
	BaseInterval, MaxInterval time.Duration
	// AvoidPreviousHosts is the previous_hosts retry host predicate.
	AvoidPreviousHosts bool
	// HostSelectionMaxAttempts is host_selection_retry_max_attempts.
	HostSelectionMaxAttempts int
}

// Retry is a compiled RetryPolicy. It is immutable.
type Retry struct {
	RetryPolicy
	codes [10]uint64 // bitmap of retriable status codes below 640
}

func compileRetry(p *RetryPolicy) (*Retry, error) {
	if p == nil {
		return nil, nil
	}
	rp := &Retry{RetryPolicy: *p}
	rp.StatusCodes = nil
	if rp.BaseInterval <= 0 {
		rp.BaseInterval = DefaultRetryBaseInterval
	}
	if rp.MaxInterval <= 0 {
		rp.MaxInterval = maxIntervalFactor * rp.BaseInterval
	}
	if rp.MaxInterval < rp.BaseInterval {
		return nil, fmt.Errorf("retry_back_off: max_interval %s is below base_interval %s", rp.MaxInterval, rp.BaseInterval)
	}
	if rp.HostSelectionMaxAttempts < 1 {
		rp.HostSelectionMaxAttempts = 1
	}
	for _, c := range p.StatusCodes {
		if c < 100 || c >= 640 {
			return nil, fmt.Errorf("retriable status code %d out of range", c)
		}
		rp.codes[c/64] |= 1 << (c % 64)
		rp.StatusCodes = append(rp.StatusCodes, c)
	}
	return rp, nil
}

// Failure describes an attempt that got no response.
type Failure uint8

// Attempt failures.
const (
	NoFailure      Failure = iota
	ConnectFailure         // the connection could not be established
	Reset                  // the connection or stream broke before the response headers
	RefusedStream          // HTTP/2 REFUSED_STREAM
	PerTryTimeout          // the per-try timeout fired before the response headers
)

// Retriable reports whether an attempt with this outcome may be retried:
// the failure when no response came back, else the response status and
// its grpc-status header (grpcStatus < 0 when absent). It follows Envoy's
// RetryStateImpl: 5xx, gateway-error and reset cover every failure
// (a per-try timeout included), connect-failure and refused-stream their
// own; the gRPC conditions look at a trailers-only response's status.
func (rp *Retry) Retriable(status, grpcStatus int, f Failure) bool {
	on := rp.On
	switch f {
	case ConnectFailure:
		return on&(Retry5xx|RetryGatewayError|RetryReset|RetryResetBeforeRequest|RetryConnectFailure) != 0
	case Reset:
		return on&(Retry5xx|RetryGatewayError|RetryReset) != 0
	case RefusedStream:
		return on&(Retry5xx|RetryGatewayError|RetryReset|RetryRefusedStream) != 0
	case PerTryTimeout:
		return on&(Retry5xx|RetryGatewayError|RetryReset) != 0
	}
	if on&Retry5xx != 0 && status >= 500 && status <= 599 {
		return true
	}
	if on&RetryGatewayError != 0 && (status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout) {
		return true
	}
	if on&RetryRetriable4xx != 0 && status == http.StatusConflict {
		return true
	}
	if on&RetryStatusCodes != 0 && status >= 0 && status < 640 && rp.codes[status/64]&(1<<(status%64)) != 0 {
		return true
	}
	if on&grpcRetryConditions != 0 && grpcStatus >= 0 {
		switch grpcStatus {
		case 1:
			return on&RetryGRPCCancelled != 0
		case 4:
			return on&RetryGRPCDeadlineExceeded != 0
		case 8:
			return on&RetryGRPCResourceExhausted != 0
		case 13:
			return on&RetryGRPCInternal != 0
		case 14:
			return on&RetryGRPCUnavailable != 0
		}
	}
	return false
}

// Backoff returns the wait before retry n (1 for the first retry): full
// jitter over [0, (2^n - 1) × base), capped at the maximum interval, as
// Envoy's JitteredExponentialBackOffStrategy.
func (rp *Retry) Backoff(n int) time.Duration {
	ceiling := rp.MaxInterval
	if n < 31 {
		if c := time.Duration(uint64(1)<<n-1) * rp.BaseInterval; c > 0 && c < ceiling {
			ceiling = c
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling)))
}

// MirrorPolicy is one request_mirror_policies entry.
type MirrorPolicy struct {
	Cluster  string
	Fraction Fraction
	// KeepHost is disable_shadow_host_suffix_append.
	KeepHost bool
}

// HashKind selects what a hash policy hashes.
type HashKind uint8

// Hash policy kinds (envoy.config.route.v3.RouteAction.HashPolicy).
const (
	HashHeader HashKind = iota
	HashCookie
	HashSourceIP
	HashQueryParameter
)

// HashPolicy is one hash_policy entry.
type HashPolicy struct {
	Kind HashKind
	// Name is the header, cookie or query parameter name.
	Name string
	// RegexRewrite rewrites a header value before it is hashed.
	RegexRewrite *RegexRewrite
	// CookieTTL, when HasTTL, makes the proxy issue the cookie when the
	// request has none (0: a session cookie); CookiePath is its Path.
	CookieTTL  time.Duration
	HasTTL     bool
	CookiePath string
	Terminal   bool
}

// WeightedCluster is one destination of a weighted_clusters action.
type WeightedCluster struct {
	Name   string
	Weight uint32
	// HostRewrite is the cluster's host_rewrite_literal.
	HostRewrite string
	// RequestHeaders and ResponseHeaders are the cluster's header operations.
	RequestHeaders, ResponseHeaders HeaderOps
}

// Action is what a matched route does.
type Action struct {
	// Cluster is the single destination (route.cluster).
	Cluster string
	// Weighted is the weighted_clusters destinations; used when non-empty.
	Weighted []WeightedCluster
	// ClusterNotFoundStatus answers a request whose cluster does not exist
	// (cluster_not_found_response_code); 0 is 503.
	ClusterNotFoundStatus int
	// Timeout is the route timeout; 0 disables it.
	Timeout time.Duration
	// MaxGRPCTimeout, when HasMaxGRPCTimeout, makes a gRPC request's
	// timeout its grpc-timeout header (none when absent), capped at
	// MaxGRPCTimeout unless that is 0; Timeout is not used then.
	MaxGRPCTimeout    time.Duration
	HasMaxGRPCTimeout bool
	// DirectStatus, when non-zero, answers locally (direct_response).
	DirectStatus int
	DirectBody   string
	// Redirect, when set, answers with a redirect.
	Redirect *Redirect
	// PrefixRewrite replaces the part of the path the route matched.
	PrefixRewrite string
	RegexRewrite  *RegexRewrite
	// HostRewrite is host_rewrite_literal.
	HostRewrite string
	Retry       *RetryPolicy
	Mirrors     []MirrorPolicy
	HashPolicy  []HashPolicy
}

// Target is where a route sends one request: a cluster and what is done
// to the request and the response on the way. Targets are built once per
// route (one per weighted cluster) and are immutable.
type Target struct {
	Cluster     string
	HostRewrite string
	// RequestHeaders and ResponseHeaders are the header operations of the
	// weighted cluster (if any), the route, the virtual host and the route
	// configuration, in the order they apply.
	RequestHeaders, ResponseHeaders *HeaderMutation
}
