package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"
)

// checkDuration applies Istio's ValidateDuration: at least 1ms, in whole
// milliseconds.
func checkDuration(c *docCtx, field string, d *durationpb.Duration) bool {
	if d == nil {
		return true
	}
	switch dur := d.AsDuration(); {
	case dur < time.Millisecond:
		c.errorf(field, "duration %s must be at least 1ms", dur)
	case dur%time.Millisecond != 0:
		c.errorf(field, "duration %s: only millisecond precision is supported", dur)
	default:
		return true
	}
	return false
}

// checkPercentage applies Istio's validatePercentage: 0, or 0.0001 to 100.
func checkPercentage(c *docCtx, field string, p *networking.Percent) {
	if v := p.GetValue(); p != nil && (v < 0 || v > 100 || (v > 0 && v < 0.0001)) {
		c.errorf(field, "percentage %v must be 0 or in the range 0.0001..100", v)
	}
}

// checkPercent checks an integer percentage.
func checkPercent(c *docCtx, field string, v int32) {
	if v < 0 || v > 100 {
		c.errorf(field, "percentage %d must be in the range 0..100", v)
	}
}

// checkNotNegative reports a negative count.
func checkNotNegative(c *docCtx, field string, v int32) {
	if v < 0 {
		c.errorf(field, "%d must not be negative", v)
	}
}

// checkRegex validates an RE2 regular expression as Istio does.
func checkRegex(c *docCtx, field, re string) {
	switch _, err := regexp.Compile(re); {
	case re == "":
		c.errorf(field, "regex must not be empty")
	case len(re) > 1024:
		c.errorf(field, "regex is longer than 1024 characters")
	case err != nil:
		c.errorf(field, "invalid RE2 regex: %v", err)
	}
}

// isToken says whether s is an HTTP token (RFC 9110), as header names are.
func isToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		alnum := (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		return !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", r)
	})
}

// checkHeaderValue rejects control characters and a lone "%": Envoy reads
// %VARIABLE% in header values, and a literal percent sign is written "%%".
func checkHeaderValue(c *docCtx, field, v string) {
	if strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
		c.errorf(field, "header value %q has control characters", v)
	} else if strings.Count(v, "%")%2 != 0 {
		c.errorf(field, "header value %q: a single %% is not allowed; write %%%% or enclose an Envoy variable in a pair of %%", v)
	}
}

// checkHTTPStatus applies Istio's range for fault aborts and direct
// responses (as Envoy accepts them).
func checkHTTPStatus(c *docCtx, field string, status int64) {
	if status < 200 || status > 599 {
		c.errorf(field, "HTTP status %d is not in the range 200..599", status)
	}
}

// checkWeights checks route destination weights: not negative, and not all
// 0 when there are several.
func checkWeights(c *docCtx, p string, weights []int32) {
	var total int64
	for k, w := range weights {
		if w < 0 {
			c.errorf(fmt.Sprintf("%s[%d].weight", p, k), "weight %d must not be negative", w)
		}
		total += int64(w)
	}
	// Istio 1.2x no longer asks weights to add up to 100 (they are
	// relative), only that several destinations do not all weigh 0.
	if len(weights) > 1 && total == 0 {
		c.errorf(p, "total destination weight is 0: give at least one destination a weight")
	}
}
