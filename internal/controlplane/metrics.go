package controlplane

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the control plane's own Prometheus metrics, served at
// /metrics on the admin address. Names follow istiod's where istiod has
// one. Each Server has its own registry: nothing is registered globally.
type Metrics struct {
	registry *prometheus.Registry

	pushes         *prometheus.CounterVec
	rejects        *prometheus.CounterVec
	convergence    prometheus.Histogram
	internalErrors prometheus.Counter
	configRejected prometheus.Counter
	certsIssued    prometheus.Counter
}

// convergenceBuckets are istiod's buckets for pilot_proxy_convergence_time.
var convergenceBuckets = []float64{.1, .5, 1, 3, 5, 10, 20, 30}

// gauges are read at scrape time from the server's state.
type gauges struct {
	connected   func() float64
	services    func() float64
	virtualSvcs func() float64
}

func newMetrics(g gauges) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_xds_pushes",
			Help: "xDS responses sent to proxies, by type (cds, eds, lds, rds).",
		}, []string{"type"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_total_xds_rejects",
			Help: "xDS responses proxies rejected (NACKed), by type.",
		}, []string{"type"}),
		convergence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pilot_proxy_convergence_time",
			Help:    "Seconds from a config change pushed to a proxy until it ACKed every type of it.",
			Buckets: convergenceBuckets,
		}),
		internalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilot_total_xds_internal_errors",
			Help: "Proxy configurations that could not be generated (the proxy keeps its previous one).",
		}),
		configRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "halyard_config_rejected_total",
			Help: "Configuration loads rejected as invalid (the last good configuration stays in force).",
		}),
		certsIssued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citadel_server_success_cert_issuance_count",
			Help: "Workload certificates issued.",
		}),
	}
	m.registry.MustRegister(m.pushes, m.rejects, m.convergence, m.internalErrors, m.configRejected, m.certsIssued,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pilot_xds", Help: "Proxies connected over ADS.",
		}, g.connected),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pilot_services", Help: "Services known to the control plane.",
		}, g.services),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pilot_virt_services", Help: "VirtualServices in the configuration in force.",
		}, g.virtualSvcs),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, t := range []string{"cds", "eds", "lds", "rds"} {
		m.pushes.WithLabelValues(t)
		m.rejects.WithLabelValues(t)
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// CertificateIssued counts one workload certificate issued by the CA.
func (m *Metrics) CertificateIssued() { m.certsIssued.Inc() }

// ConfigRejected counts one configuration load rejected as invalid.
func (m *Metrics) ConfigRejected() { m.configRejected.Inc() }

func (m *Metrics) pushed(typeURL string)   { m.pushes.WithLabelValues(metricType(typeURL)).Inc() }
func (m *Metrics) rejected(typeURL string) { m.rejects.WithLabelValues(metricType(typeURL)).Inc() }
func (m *Metrics) converged(d time.Duration) {
	m.convergence.Observe(d.Seconds())
}
func (m *Metrics) generationFailed() { m.internalErrors.Inc() }

// metricType is istiod's lower-case type label: lds, rds, cds, eds.
func metricType(typeURL string) string {
	switch s := shortType(typeURL); s {
	case "LDS", "RDS", "CDS", "EDS":
		return string(s[0]+'a'-'A') + "ds"
	default:
		return "other"
	}
}
