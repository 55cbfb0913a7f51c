package config

import (
	"fmt"
	"math"

	networking "istio.io/api/networking/v1alpha3"
)

// validatePolicyParts applies Istio's checks of a traffic policy's
// components (validateLoadBalancer, validateConnectionPool,
// validateOutlierDetection, validateTLS) and of its port-level settings.
func validatePolicyParts(c *docCtx, p string, tp *networking.TrafficPolicy) {
	validateLoadBalancer(c, p+".loadBalancer", tp.LoadBalancer)
	validateConnectionPool(c, p+".connectionPool", tp.ConnectionPool)
	validateOutlierDetection(c, p+".outlierDetection", tp.OutlierDetection)
	validateClientTLS(c, p+".tls", tp.Tls)
	for i, pl := range tp.PortLevelSettings {
		pp := fmt.Sprintf("%s.portLevelSettings[%d]", p, i)
		if pl.GetPort() == nil {
			c.errorf(pp+".port", "missing required field")
		} else {
			checkPortNumber(c, pp+".port.number", int64(pl.Port.Number))
		}
		if pl.GetLoadBalancer() == nil && pl.GetConnectionPool() == nil && pl.GetOutlierDetection() == nil && pl.GetTls() == nil {
			c.errorf(pp, "a port traffic policy must have at least one field")
		}
		validateLoadBalancer(c, pp+".loadBalancer", pl.GetLoadBalancer())
		validateConnectionPool(c, pp+".connectionPool", pl.GetConnectionPool())
		validateOutlierDetection(c, pp+".outlierDetection", pl.GetOutlierDetection())
		validateClientTLS(c, pp+".tls", pl.GetTls())
	}
}

func validateLoadBalancer(c *docCtx, p string, lb *networking.LoadBalancerSettings) {
	ch := lb.GetConsistentHash()
	if ch == nil {
		return
	}
	p += ".consistentHash"
	if ch.HashKey == nil {
		c.warnf(p, "no hash key (httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName): requests are hashed at random")
	}
	if cookie := ch.GetHttpCookie(); cookie != nil && cookie.GetName() == "" {
		c.errorf(p+".httpCookie.name", "missing required field")
	}
	if ch.MinimumRingSize != 0 { //nolint:staticcheck // deprecated, still read
		c.warnf(p+".minimumRingSize", "deprecated: use ringHash.minimumRingSize instead")
		if ch.HashAlgorithm != nil {
			c.errorf(p+".minimumRingSize", "only one of minimumRingSize, ringHash or maglev may be set")
		}
	}
	if ml := ch.GetMaglev(); ml != nil {
		switch size := ml.TableSize; {
		case size == 0:
			c.errorf(p+".maglev.tableSize", "tableSize must be set for maglev")
		case size >= 5000011:
			c.errorf(p+".maglev.tableSize", "tableSize must be less than 5000011 for maglev")
		case !isPrime(size):
			c.errorf(p+".maglev.tableSize", "tableSize %d must be a prime number for maglev", size)
		}
	}
}

// isPrime is Envoy's primality test for Maglev table sizes.
func isPrime(x uint64) bool {
	if x != 0 && x < 4 {
		return true
	}
	if x&1 == 0 {
		return false
	}
	for f := uint64(3); f <= uint64(math.Sqrt(float64(x))); f += 2 {
		if x%f == 0 {
			return false
		}
	}
	return true
}

func validateConnectionPool(c *docCtx, p string, cp *networking.ConnectionPoolSettings) {
	if cp == nil {
		return
	}
	if cp.Http == nil && cp.Tcp == nil {
		c.errorf(p, "a connection pool must have http or tcp settings")
	}
	if h := cp.Http; h != nil {
		hp := p + ".http"
		checkNotNegative(c, hp+".http1MaxPendingRequests", h.Http1MaxPendingRequests)
		checkNotNegative(c, hp+".http2MaxRequests", h.Http2MaxRequests)
		checkNotNegative(c, hp+".maxRequestsPerConnection", h.MaxRequestsPerConnection)
		checkNotNegative(c, hp+".maxRetries", h.MaxRetries)
		checkNotNegative(c, hp+".maxConcurrentStreams", h.MaxConcurrentStreams)
		checkDuration(c, hp+".idleTimeout", h.IdleTimeout)
		if h.H2UpgradePolicy == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE && h.UseClientProtocol {
			c.errorf(hp+".useClientProtocol", "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE")
		}
	}
	if t := cp.Tcp; t != nil {
		tp := p + ".tcp"
		checkNotNegative(c, tp+".maxConnections", t.MaxConnections)
		checkDuration(c, tp+".connectTimeout", t.ConnectTimeout)
		checkDuration(c, tp+".maxConnectionDuration", t.MaxConnectionDuration)
		if t.IdleTimeout.AsDuration() != 0 { // 0s turns the idle timeout off
			checkDuration(c, tp+".idleTimeout", t.IdleTimeout)
		}
		checkDuration(c, tp+".tcpKeepalive.time", t.GetTcpKeepalive().GetTime())
		checkDuration(c, tp+".tcpKeepalive.interval", t.GetTcpKeepalive().GetInterval())
	}
}

func validateOutlierDetection(c *docCtx, p string, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	checkDuration(c, p+".baseEjectionTime", od.BaseEjectionTime)
	checkDuration(c, p+".interval", od.Interval)
	if !od.SplitExternalLocalOriginErrors && od.ConsecutiveLocalOriginFailures.GetValue() > 0 {
		c.errorf(p+".consecutiveLocalOriginFailures", "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true")
	}
	checkPercent(c, p+".maxEjectionPercent", od.MaxEjectionPercent)
	checkPercent(c, p+".minHealthPercent", od.MinHealthPercent)
}

// validateClientTLS is Istio's validateTLS of a DestinationRule's tls.
// credentialName (a Kubernetes secret) has no effect locally, so MUTUAL
// always needs its certificate and key files.
func validateClientTLS(c *docCtx, p string, t *networking.ClientTLSSettings) {
	if t == nil {
		return
	}
	mode := t.GetMode()
	if t.GetInsecureSkipVerify().GetValue() {
		switch {
		case mode == networking.ClientTLSSettings_SIMPLE && (t.CaCertificates != "" || t.CredentialName != "" || len(t.SubjectAltNames) > 0):
			c.errorf(p+".insecureSkipVerify", "cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true")
		case mode == networking.ClientTLSSettings_MUTUAL && (t.CaCertificates != "" || len(t.SubjectAltNames) > 0):
			c.errorf(p+".insecureSkipVerify", "cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true")
		}
	}
	if mode == networking.ClientTLSSettings_MUTUAL {
		if t.ClientCertificate == "" {
			c.errorf(p+".clientCertificate", "client certificate required for mutual tls")
		}
		if t.PrivateKey == "" {
			c.errorf(p+".privateKey", "private key required for mutual tls")
		}
	}
}
