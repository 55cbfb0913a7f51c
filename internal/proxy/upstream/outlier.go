package upstream

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// OutlierConfig is a cluster's outlier_detection, with Envoy's defaults
// filled in (see DefaultOutlier). Success-rate and failure-percentage
// ejection are not implemented.
type OutlierConfig struct {
	Interval         time.Duration
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps base_ejection_time × number of ejections.
	MaxEjectionTime time.Duration
	// MaxEjectionTimeJitter adds a random 0..jitter to each ejection.
	MaxEjectionTimeJitter time.Duration
	MaxEjectionPercent    uint32
	// AlwaysEjectOneHost lets one host be ejected whatever
	// MaxEjectionPercent says.
	AlwaysEjectOneHost bool

	Consecutive5xx                     uint32
	EnforcingConsecutive5xx            uint32 // percent
	ConsecutiveGatewayFailure          uint32
	EnforcingConsecutiveGatewayFailure uint32 // percent

	// SplitExternalLocalOriginErrors counts connect failures, timeouts and
	// resets apart (ConsecutiveLocalOriginFailure) instead of as 503/504.
	SplitExternalLocalOriginErrors         bool
	ConsecutiveLocalOriginFailure          uint32
	EnforcingConsecutiveLocalOriginFailure uint32 // percent
}

// DefaultOutlier is Envoy's outlier_detection with every field absent.
var DefaultOutlier = OutlierConfig{
	Interval:                               10 * time.Second,
	BaseEjectionTime:                       30 * time.Second,
	MaxEjectionTime:                        300 * time.Second,
	MaxEjectionPercent:                     10,
	Consecutive5xx:                         5,
	EnforcingConsecutive5xx:                100,
	ConsecutiveGatewayFailure:              5,
	EnforcingConsecutiveGatewayFailure:     0,
	ConsecutiveLocalOriginFailure:          5,
	EnforcingConsecutiveLocalOriginFailure: 100,
}

// Outcome is the result of one attempt against a host, as outlier
// detection counts it. The zero Outcome is a success without an HTTP
// status (a TCP connection that was established).
type Outcome struct {
	Status         int  // the upstream's HTTP status; 0 when none came back
	ConnectFailure bool // the connection could not be made
	Timeout        bool // the attempt timed out
	Reset          bool // the connection broke before a response
}

// hostHealth is the outlier-detection state of one address in a cluster.
// The counters are updated lock-free on every report; ejection and
// unejection happen under the cluster's lock.
type hostHealth struct {
	cons5xx, consGateway, consLocal atomic.Uint32
	ejected                         atomic.Bool

	// Guarded by Cluster.mu.
	ejectedAt time.Time
	jitter    time.Duration // added to this ejection
	ejections uint32        // the ejection time multiplier
}

type ejectReason uint8

const (
	reason5xx ejectReason = iota
	reasonGateway
	reasonLocalOrigin
)

var reasonNames = [...]string{"consecutive_5xx", "consecutive_gateway_failure", "consecutive_local_origin_failure"}

// Report records one attempt's outcome for the host's cluster's outlier
// detection. It is cheap when the cluster has none, and never blocks
// unless the outcome ejects the host.
func (h *Host) Report(o Outcome) {
	c := h.cluster
	if c == nil || h.health == nil {
		return
	}
	od := c.cfg.Load().Outlier
	if od == nil || h.health.ejected.Load() {
		return
	}
	hh := h.health
	local := o.ConnectFailure || o.Timeout || (o.Reset && o.Status == 0)
	code := o.Status
	if od.SplitExternalLocalOriginErrors {
		if local {
			if hh.consLocal.Add(1) == od.ConsecutiveLocalOriginFailure {
				c.consecutiveFailure(h, reasonLocalOrigin)
			}
			return
		}
		resetCounter(&hh.consLocal) // the connection worked
		if code == 0 {
			return
		}
	} else if local {
		// Envoy maps local-origin failures to the code a proxy answers.
		code = 503
		if o.Timeout {
			code = 504
		}
	}
	if code < 500 || code > 599 {
		resetCounter(&hh.cons5xx)
		resetCounter(&hh.consGateway)
		return
	}
	if code >= 502 && code <= 504 {
		if hh.consGateway.Add(1) == od.ConsecutiveGatewayFailure {
			c.consecutiveFailure(h, reasonGateway)
		}
	} else {
		resetCounter(&hh.consGateway)
	}
	if hh.cons5xx.Add(1) == od.Consecutive5xx {
		c.consecutiveFailure(h, reason5xx)
	}
}

// resetCounter zeroes a counter without writing the cache line when it is
// zero already (the common case on the success path).
func resetCounter(v *atomic.Uint32) {
	if v.Load() != 0 {
		v.Store(0)
	}
}

// consecutiveFailure handles a host that reached a consecutive-failure
// threshold: the counter restarts and, as enforced, the host is ejected.
func (c *Cluster) consecutiveFailure(h *Host, r ejectReason) {
	hh := h.health
	switch r {
	case reason5xx:
		hh.cons5xx.Store(0)
	case reasonGateway:
		hh.consGateway.Store(0)
	case reasonLocalOrigin:
		hh.consLocal.Store(0)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	od := c.cfg.Load().Outlier
	if od == nil || c.removed || hh.ejected.Load() || c.byAddr[h.Address] == nil {
		return
	}
	enforcing := [...]uint32{od.EnforcingConsecutive5xx, od.EnforcingConsecutiveGatewayFailure, od.EnforcingConsecutiveLocalOriginFailure}[r]
	if enforcing == 0 || enforcing < 100 && rand.Uint32N(100) >= enforcing {
		return
	}
	ejected := 0
	for _, x := range c.hosts {
		if x.health.ejected.Load() {
			ejected++
		}
	}
	// Envoy: eject while (ejected+1)/hosts stays within max_ejection_percent.
	if 100*(ejected+1) > int(od.MaxEjectionPercent)*len(c.hosts) && !(od.AlwaysEjectOneHost && ejected == 0) {
		c.log.Debug("outlier detection: ejection skipped, max_ejection_percent reached", "cluster", c.name, "host", h.Address, "reason", reasonNames[r])
		return
	}
	now := c.clock.Now()
	hh.ejections++
	if base := od.BaseEjectionTime; base > 0 && time.Duration(hh.ejections)*base > max(od.MaxEjectionTime, base) {
		hh.ejections = uint32(max(od.MaxEjectionTime, base) / base)
	}
	hh.ejectedAt, hh.jitter = now, 0
	if j := od.MaxEjectionTimeJitter; j > 0 {
		hh.jitter = rand.N(j)
	}
	hh.ejected.Store(true)
	c.ejections.Add(1)
	c.rebuildLocked()
	c.armLocked(od)
	c.log.Info("outlier detection: host ejected", "cluster", c.name, "host", h.Address, "reason", reasonNames[r],
		"for", ejectionTime(od, hh), "healthy", c.lb.Load().healthy, "hosts", len(c.hosts), "panic", c.lb.Load().panic)
}

func ejectionTime(od *OutlierConfig, hh *hostHealth) time.Duration {
	return min(time.Duration(hh.ejections)*od.BaseEjectionTime, max(od.MaxEjectionTime, od.BaseEjectionTime)) + hh.jitter
}

// armLocked starts the interval timer unless it runs. It runs only while
// there is something to do: ejected hosts to bring back or ejection
// multipliers to decay.
func (c *Cluster) armLocked(od *OutlierConfig) {
	if c.timer == nil && !c.removed {
		c.timerGen++
		gen := c.timerGen
		c.timer = c.clock.AfterFunc(od.Interval, func() { c.onInterval(gen) })
	}
}

// stopTimerLocked stops the interval timer; a call already under way sees
// a newer generation and does nothing.
func (c *Cluster) stopTimerLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.timerGen++
}

// onInterval is Envoy's interval timer: ejected hosts whose ejection time
// has passed return, and hosts that stayed healthy for an interval lose one
// from their ejection multiplier.
func (c *Cluster) onInterval(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.timerGen {
		return // stopped or replaced meanwhile
	}
	c.timer = nil
	od := c.cfg.Load().Outlier
	if c.removed || od == nil {
		return
	}
	now := c.clock.Now()
	changed, again := false, false
	for _, h := range c.hosts {
		hh := h.health
		switch {
		case hh.ejected.Load():
			if !now.Before(hh.ejectedAt.Add(ejectionTime(od, hh))) {
				c.unejectLocked(h)
				changed = true
			}
		case hh.ejections > 0:
			hh.ejections--
		}
		if hh.ejected.Load() || hh.ejections > 0 {
			again = true
		}
	}
	if changed {
		c.rebuildLocked()
	}
	if again {
		c.armLocked(od)
	}
}

func (c *Cluster) unejectLocked(h *Host) {
	hh := h.health
	hh.ejected.Store(false)
	hh.cons5xx.Store(0)
	hh.consGateway.Store(0)
	hh.consLocal.Store(0)
	c.log.Info("outlier detection: host returned", "cluster", c.name, "host", h.Address)
}

// outlierUpdateLocked applies a change of outlier_detection and reports
// whether the picker must be rebuilt. Turning it off brings every host
// back; changing it keeps the ejections.
func (c *Cluster) outlierUpdateLocked(prev, cfg *Config) bool {
	if cfg.Outlier != nil {
		if c.timer != nil && prev != nil && prev.Outlier != nil && prev.Outlier.Interval != cfg.Outlier.Interval {
			c.stopTimerLocked()
			c.armLocked(cfg.Outlier)
		}
		return false
	}
	c.stopTimerLocked()
	any := false
	for _, h := range c.hosts {
		h.health.ejections = 0
		if h.health.ejected.Load() {
			c.unejectLocked(h)
			any = true
		}
	}
	return any
}
