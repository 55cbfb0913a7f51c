package xds

import (
	"net/http"
	"strconv"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previouspriorities "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// Istio's default retry policy, used when a route has no retries field.
const (
	defaultRetryOn         = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	defaultNumRetries      = 2
	hostSelectionAttempts  = 5
	previousHostsPredicate = "envoy.retry_host_predicates.previous_hosts"
	previousPriorities     = "envoy.retry_priorities.previous_priorities"
	retriableStatusCodes   = "retriable-status-codes"
)

// defaultRetryPolicy is Istio's: 2 retries on connect-failure,
// refused-stream, unavailable, cancelled and a 503 response, each to a host
// not tried before (previous_hosts, up to 5 host selections). With
// consistent hashing the previous_hosts predicate is left out, so that
// retries stay on the hashed host.
func defaultRetryPolicy(consistentHash bool) *route.RetryPolicy {
	p := &route.RetryPolicy{
		RetryOn:                       defaultRetryOn,
		NumRetries:                    wrapperspb.UInt32(defaultNumRetries),
		RetriableStatusCodes:          []uint32{http.StatusServiceUnavailable},
		HostSelectionRetryMaxAttempts: hostSelectionAttempts,
	}
	if !consistentHash {
		p.RetryHostPredicate = []*route.RetryPolicy_RetryHostPredicate{previousHostsRetry()}
	}
	return p
}

// retryPolicy translates a route's retries as Istio's retry.ConvertPolicy:
// no retries field is the default policy; attempts 0 turns retries off
// (nil); otherwise the default policy with the given attempts, retryOn
// (replacing the default conditions and status codes), perTryTimeout,
// retryIgnorePreviousHosts, retryRemoteLocalities and backoff.
func retryPolicy(in *networking.HTTPRetry, consistentHash bool) *route.RetryPolicy {
	out := defaultRetryPolicy(consistentHash)
	if in == nil {
		return out
	}
	if in.Attempts <= 0 {
		return nil
	}
	out.NumRetries = wrapperspb.UInt32(uint32(in.Attempts))
	if in.RetryOn != "" {
		out.RetryOn, out.RetriableStatusCodes = parseRetryOn(in.RetryOn)
	}
	out.PerTryTimeout = in.PerTryTimeout
	if in.RetryIgnorePreviousHosts != nil {
		out.RetryHostPredicate = nil
		if in.RetryIgnorePreviousHosts.GetValue() {
			out.RetryHostPredicate = []*route.RetryPolicy_RetryHostPredicate{previousHostsRetry()}
		}
	}
	if in.RetryRemoteLocalities.GetValue() {
		out.RetryPriority = &route.RetryPolicy_RetryPriority{
			Name: previousPriorities,
			ConfigType: &route.RetryPolicy_RetryPriority_TypedConfig{
				TypedConfig: toAny(&previouspriorities.PreviousPrioritiesConfig{UpdateFrequency: 2}),
			},
		}
	}
	if in.Backoff != nil {
		out.RetryBackOff = &route.RetryPolicy_RetryBackOff{BaseInterval: in.Backoff}
	}
	return out
}

// parseRetryOn splits Istio's retryOn: the parts that are HTTP status
// codes become retriable_status_codes (and "retriable-status-codes" is
// added to the conditions if it is not there), the rest stay Envoy retry
// conditions, in order, with blanks trimmed and empty parts dropped.
func parseRetryOn(retryOn string) (string, []uint32) {
	var conds []string
	var codes []uint32
	for _, part := range strings.Split(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if code, err := strconv.Atoi(part); err == nil && http.StatusText(code) != "" {
			codes = append(codes, uint32(code))
			continue
		}
		conds = append(conds, part)
	}
	if len(codes) > 0 && !strings.Contains(retryOn, retriableStatusCodes) {
		conds = append(conds, retriableStatusCodes)
	}
	return strings.Join(conds, ","), codes
}

func previousHostsRetry() *route.RetryPolicy_RetryHostPredicate {
	return &route.RetryPolicy_RetryHostPredicate{
		Name: previousHostsPredicate,
		ConfigType: &route.RetryPolicy_RetryHostPredicate_TypedConfig{
			TypedConfig: toAny(&previoushosts.PreviousHostsPredicate{}),
		},
	}
}
