package compile

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/halyard-mesh/halyard/internal/proxy/listener"
)

const (
	tlsInspectorFilter = "envoy.filters.listener.tls_inspector"
	// defaultTCPIdleTimeout is Envoy's tcp_proxy idle_timeout.
	defaultTCPIdleTimeout = time.Hour
)

// selectsChains reports whether a listener picks its filter chain per
// connection: several chains, a default_filter_chain besides them, or a
// filter_chain_match. compileTCPChains compiles those.
func selectsChains(l *listenerv3.Listener) bool {
	chains := l.GetFilterChains()
	if len(chains) > 1 || len(chains) == 1 && l.GetDefaultFilterChain() != nil {
		return true
	}
	return len(chains) == 1 && chains[0].GetFilterChainMatch() != nil
}

// compileTCPChains compiles a listener whose filter chains are chosen by
// filter_chain_match: each chain must be a tcp_proxy, after network rbac
// filters if any (TLS passes
// through; HTTP chains cannot be told apart without terminating TLS).
// Matching is on server_names, which needs the tls_inspector listener
// filter.
func compileTCPChains(c *listener.Config, l *listenerv3.Listener, tel Telemetry) error {
	if c.ExplicitProxy {
		return errors.New("an explicit-proxy listener must have one filter chain")
	}
	_, port, _ := net.SplitHostPort(c.Address)
	var chains []listener.FilterChain
	for i, fc := range l.GetFilterChains() {
		name := fc.GetName()
		if name == "" {
			name = "#" + strconv.Itoa(i)
		}
		m, matches, err := chainMatch(fc.GetFilterChainMatch(), port)
		if err != nil {
			return fmt.Errorf("filter chain %s: filter_chain_match: %w", name, err)
		}
		if !matches {
			continue // e.g. another destination_port: never selected here
		}
		tp, err := chainTCPProxy(fc, tel)
		if err != nil {
			return fmt.Errorf("filter chain %s: %w", name, err)
		}
		chains = append(chains, listener.FilterChain{ServerNames: m, TCP: tp})
	}
	var def *listener.TCPProxy
	if dfc := l.GetDefaultFilterChain(); dfc != nil {
		tp, err := chainTCPProxy(dfc, tel)
		if err != nil {
			return fmt.Errorf("default_filter_chain: %w", err)
		}
		def = tp
	}
	inspector := false
	for _, lf := range l.GetListenerFilters() {
		inspector = inspector || lf.GetName() == tlsInspectorFilter
	}
	fcs, err := listener.NewFilterChains(chains, def, inspector)
	if err != nil {
		return err
	}
	if t := l.GetListenerFiltersTimeout(); t != nil {
		if fcs.InspectTimeout, err = duration(t, listener.DefaultInspectTimeout); err != nil {
			return fmt.Errorf("listener_filters_timeout: %w", err)
		}
		if fcs.InspectTimeout == 0 {
			fcs.InspectTimeout = 24 * time.Hour // 0 disables the timeout
		}
	}
	fcs.ContinueOnTimeout = l.GetContinueOnListenerFiltersTimeout()
	c.Chains = fcs
	return nil
}

// chainMatch returns a filter_chain_match's server names and whether the
// chain can match connections of a listener on port at all.
func chainMatch(m *listenerv3.FilterChainMatch, port string) ([]string, bool, error) {
	if m == nil {
		return nil, true, nil
	}
	switch {
	case len(m.GetPrefixRanges()) > 0 || len(m.GetSourcePrefixRanges()) > 0 || len(m.GetDirectSourcePrefixRanges()) > 0 ||
		len(m.GetSourcePorts()) > 0 || m.GetSourceType() != listenerv3.FilterChainMatch_ANY:
		return nil, false, errors.New("only server_names and destination_port are supported")
	case m.GetTransportProtocol() != "" || len(m.GetApplicationProtocols()) > 0:
		return nil, false, errors.New("transport_protocol and application_protocols are not supported")
	}
	if dp := m.GetDestinationPort(); dp != nil && strconv.FormatUint(uint64(dp.GetValue()), 10) != port {
		return nil, false, nil
	}
	return m.GetServerNames(), true, nil
}

// chainTCPProxy compiles a filter chain that must be a tcp_proxy after
// network rbac filters, if any.
func chainTCPProxy(fc *listenerv3.FilterChain, tel Telemetry) (*listener.TCPProxy, error) {
	if fc.GetTransportSocket() != nil {
		return nil, errors.New("transport sockets (TLS) are not supported")
	}
	fs := fc.GetFilters()
	if len(fs) == 0 {
		return nil, errors.New("no network filters: a chain chosen by filter_chain_match must end with a tcp_proxy")
	}
	f, tc := fs[len(fs)-1], fs[len(fs)-1].GetTypedConfig()
	if f.GetName() != tcpProxyFilter && tc.GetTypeUrl() != tcpProxyType {
		return nil, fmt.Errorf("network filter %q: a chain chosen by filter_chain_match must be one tcp_proxy", f.GetName())
	}
	if tc == nil || tc.GetTypeUrl() != tcpProxyType {
		return nil, fmt.Errorf("filter %q: typed_config must be %s", f.GetName(), tcpProxyType)
	}
	t := &tcpproxyv3.TcpProxy{}
	if err := tc.UnmarshalTo(t); err != nil {
		return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
	}
	tp, err := compileTCPProxy(t, tel)
	if err != nil {
		return nil, err
	}
	if tp.Filters, err = networkFilters(fs[:len(fs)-1]); err != nil { // netfilters.go
		return nil, err
	}
	return tp, nil
}

// compileTCPProxy compiles a tcp_proxy network filter.
func compileTCPProxy(t *tcpproxyv3.TcpProxy, tel Telemetry) (*listener.TCPProxy, error) {
	out := &listener.TCPProxy{}
	switch cs := t.GetClusterSpecifier().(type) {
	case *tcpproxyv3.TcpProxy_Cluster:
		if cs.Cluster == "" {
			return nil, errors.New("tcp_proxy: empty cluster")
		}
		out.Cluster = cs.Cluster
	case *tcpproxyv3.TcpProxy_WeightedClusters:
		var total uint64
		for _, w := range cs.WeightedClusters.GetClusters() {
			if w.GetName() == "" {
				return nil, errors.New("tcp_proxy: weighted cluster without a name")
			}
			out.Weighted = append(out.Weighted, listener.WeightedCluster{Name: w.GetName(), Weight: w.GetWeight()})
			total += uint64(w.GetWeight())
		}
		if total == 0 {
			return nil, errors.New("tcp_proxy: weighted_clusters must have a positive total weight")
		}
	default:
		return nil, errors.New("tcp_proxy: no cluster or weighted_clusters")
	}
	if t.GetTunnelingConfig() != nil || t.GetOnDemand() != nil {
		return nil, errors.New("tcp_proxy: tunneling_config and on_demand are not supported")
	}
	for _, h := range t.GetHashPolicy() {
		if h.GetSourceIp() == nil {
			return nil, errors.New("tcp_proxy: only the source_ip hash policy is supported")
		}
		out.HashSourceIP = true
	}
	d, err := duration(t.GetIdleTimeout(), defaultTCPIdleTimeout)
	if err != nil {
		return nil, fmt.Errorf("tcp_proxy: idle_timeout: %w", err)
	}
	out.IdleTimeout = d
	if out.AccessLogs, err = accessLogs(t.GetAccessLog(), tel.AccessLogs); err != nil {
		return nil, fmt.Errorf("tcp_proxy: %w", err)
	}
	return out, nil
}
