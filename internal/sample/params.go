package sample

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits on query parameters.
const (
	maxSize  = 16 << 20
	maxDelay = 10 * time.Minute
)

// params are the query parameters that shape a reply.
type params struct {
	delay   time.Duration // ?delay=250ms
	status  int           // ?status=503 or ?status=503:50
	percent float64       // share of requests answered with status, 0-100
	size    int           // ?size=1024: pad the body to this many bytes
	strict  bool          // ?strict=1: a failed downstream fails the reply
}

// parseParams validates the query; its error message is shown to the
// client. Parameters the query does not set keep their values from def
// (the instance's --delay and --status).
func parseParams(q url.Values, def params) (params, error) {
	p := def
	var err error
	if v := q.Get("delay"); v != "" {
		if p.delay, err = parseDelay(v); err != nil {
			return p, err
		}
	}
	if v := q.Get("status"); v != "" {
		if p.status, p.percent, err = parseStatus(v); err != nil {
			return p, err
		}
	}
	if v := q.Get("size"); v != "" {
		if p.size, err = parseSize(v); err != nil {
			return p, err
		}
	}
	if v := q.Get("strict"); v != "" {
		if p.strict, err = strconv.ParseBool(v); err != nil {
			return p, fmt.Errorf("bad strict %q: want 1, 0, true or false", v)
		}
	}
	return p, nil
}

func parseDelay(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxDelay {
		return 0, fmt.Errorf("bad delay %q: want a duration such as 250ms, between 0 and %s", v, maxDelay)
	}
	return d, nil
}

// parseStatus parses "503" (always) or "503:50" (50% of requests).
func parseStatus(v string) (int, float64, error) {
	code, pct, hasPct := strings.Cut(v, ":")
	status, err := strconv.Atoi(code)
	if err != nil || status < 200 || status > 599 {
		return 0, 0, fmt.Errorf("bad status %q: want a code between 200 and 599, optionally followed by :PERCENT", v)
	}
	if !hasPct {
		return status, 100, nil
	}
	percent, err := strconv.ParseFloat(pct, 64)
	if err != nil || !(percent >= 0 && percent <= 100) {
		return 0, 0, fmt.Errorf("bad status percentage %q: want a number between 0 and 100", pct)
	}
	return status, percent, nil
}

func parseSize(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxSize {
		return 0, fmt.Errorf("bad size %q: want a byte count between 0 and %d", v, maxSize)
	}
	return n, nil
}

// pickStatus returns the injected status for this request, or 0.
func (p params) pickStatus() int {
	if p.status == 0 || rand.Float64()*100 >= p.percent {
		return 0
	}
	return p.status
}
