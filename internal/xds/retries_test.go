package xds

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

func TestParseRetryOn(t *testing.T) {
	for _, tc := range []struct {
		in, conds string
		codes     []uint32
	}{
		{"5xx", "5xx", nil},
		{"connect-failure,refused-stream", "connect-failure,refused-stream", nil},
		{"503", "retriable-status-codes", []uint32{503}},
		{"5xx,503,504", "5xx,retriable-status-codes", []uint32{503, 504}},
		{"retriable-status-codes,409", "retriable-status-codes", []uint32{409}},
		{" gateway-error , 502 ,,", "gateway-error,retriable-status-codes", []uint32{502}},
		{"999,reset", "999,reset", nil}, // not an HTTP status: kept as a condition
		{"", "", nil},
	} {
		conds, codes := parseRetryOn(tc.in)
		if conds != tc.conds || !slices.Equal(codes, tc.codes) {
			t.Errorf("parseRetryOn(%q) = %q, %v; want %q, %v", tc.in, conds, codes, tc.conds, tc.codes)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		p := retryPolicy(nil, false)
		if p.GetNumRetries().GetValue() != 2 || p.RetryOn != defaultRetryOn || !slices.Equal(p.RetriableStatusCodes, []uint32{503}) ||
			p.HostSelectionRetryMaxAttempts != 5 || len(p.RetryHostPredicate) != 1 || p.RetryHostPredicate[0].Name != previousHostsPredicate {
			t.Errorf("default policy = %v", p)
		}
		if h := retryPolicy(nil, true); len(h.RetryHostPredicate) != 0 {
			t.Errorf("with consistent hashing, the default policy keeps previous_hosts: %v", h)
		}
	})
	t.Run("attempts 0 turns retries off", func(t *testing.T) {
		if p := retryPolicy(&networking.HTTPRetry{}, false); p != nil {
			t.Errorf("got %v", p)
		}
	})
	t.Run("overrides", func(t *testing.T) {
		p := retryPolicy(&networking.HTTPRetry{
			Attempts:                 4,
			PerTryTimeout:            durationpb.New(2e9),
			RetryOn:                  "reset",
			RetryIgnorePreviousHosts: wrapperspb.Bool(false),
			RetryRemoteLocalities:    wrapperspb.Bool(true),
			Backoff:                  durationpb.New(25e6),
		}, false)
		switch {
		case p.GetNumRetries().GetValue() != 4, p.RetryOn != "reset", len(p.RetriableStatusCodes) != 0:
			t.Errorf("attempts/retryOn: %v", p)
		case p.GetPerTryTimeout().AsDuration() != 2e9, p.GetRetryBackOff().GetBaseInterval().AsDuration() != 25e6:
			t.Errorf("timeouts: %v", p)
		case len(p.RetryHostPredicate) != 0, p.GetRetryPriority().GetName() != previousPriorities:
			t.Errorf("predicates: %v", p)
		case p.HostSelectionRetryMaxAttempts != 5:
			t.Errorf("host selection attempts: %v", p)
		}
	})
	t.Run("retryIgnorePreviousHosts true with consistent hashing", func(t *testing.T) {
		p := retryPolicy(&networking.HTTPRetry{Attempts: 1, RetryIgnorePreviousHosts: wrapperspb.Bool(true)}, true)
		if len(p.RetryHostPredicate) != 1 {
			t.Errorf("got %v", p)
		}
	})
}
