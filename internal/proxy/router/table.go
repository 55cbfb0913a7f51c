package router

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// PathKind selects how a route matches the request path.
type PathKind uint8

// Path match kinds, as in envoy.config.route.v3.RouteMatch.path_specifier.
const (
	PathPrefix          PathKind = iota // prefix of the :path header
	PathExact                           // path, query string removed
	PathRegex                           // RE2 full match on the path, query string removed
	PathSeparatedPrefix                 // prefix ending at a '/' boundary
)

// Match is the configuration of a route match.
type Match struct {
	PathKind PathKind
	Path     string
	// CaseInsensitive is case_sensitive: false (prefix and exact only).
	CaseInsensitive bool
	Headers         []HeaderMatch
	Query           []QueryMatch
	// GRPC restricts the route to gRPC requests (content-type application/grpc*).
	GRPC bool
}

// RouteConfig is the configuration of one route.
type RouteConfig struct {
	Name   string
	Match  Match
	Action Action
	// RequestHeaders and ResponseHeaders are the route's header operations
	// (request_headers_to_add/remove, response_headers_to_add/remove).
	RequestHeaders, ResponseHeaders HeaderOps
	// PerFilter holds the route's typed_per_filter_config, compiled by the
	// HTTP filters and indexed by their slot; nil entries are unset.
	PerFilter []any
}

// VirtualHostConfig is the configuration of one virtual host.
type VirtualHostConfig struct {
	Name    string
	Domains []string
	Routes  []RouteConfig
	// RequestHeaders and ResponseHeaders apply to every route of the host,
	// after the route's own.
	RequestHeaders, ResponseHeaders HeaderOps
	// PerFilter is the host's typed_per_filter_config (see RouteConfig).
	PerFilter []any
	// Retry is the host's retry_policy, for routes without one.
	Retry *RetryPolicy
	// Mirrors are the host's request_mirror_policies, for routes without any.
	Mirrors []MirrorPolicy
}

// TableConfig is the configuration of a route table (a RouteConfiguration).
type TableConfig struct {
	Name         string
	VirtualHosts []VirtualHostConfig
	// RequestHeaders and ResponseHeaders apply to every route, after the
	// virtual host's.
	RequestHeaders, ResponseHeaders HeaderOps
	// MostSpecificHeaderMutationsWins reverses the order of the levels:
	// route configuration, virtual host, route, weighted cluster.
	MostSpecificHeaderMutationsWins bool
	PerFilter                       []any
	Mirrors                         []MirrorPolicy
	// IgnorePortInHostMatching strips the port of the Host before the
	// domains are matched (ignore_port_in_host_matching).
	IgnorePortInHostMatching bool
}

// Route is a compiled route. It is immutable.
type Route struct {
	Name   string
	Action Action

	pathKind   PathKind
	path       string // lower-cased when caseFold
	caseFold   bool
	re         *regexp.Regexp
	headers    []headerMatcher
	query      []queryMatcher
	grpc       bool
	cumulative []uint64 // running sums of Action.Weighted weights

	targets      []Target        // one per weighted cluster, or the single cluster
	localHeaders *HeaderMutation // response headers of local replies (no weighted cluster)
	retry        *Retry
	mirrors      []MirrorPolicy
	hash         []hashPolicy
	regexRewrite *regexRewrite
	redirect     *redirect
	perFilter    []any
}

// VirtualHost is a compiled virtual host. It is immutable.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []*Route

	exact      map[string][]int32 // exact-path routes by path
	prefixes   map[string][]int32 // case-sensitive prefix routes by prefix
	prefixLens []int              // distinct lengths of the keys of prefixes, ascending
	generic    []int32            // every other route
}

type wildcard struct {
	affix string
	vh    *VirtualHost
}

// Table is a compiled RouteConfiguration. It is immutable and safe for
// concurrent use.
type Table struct {
	Name         string
	VirtualHosts []*VirtualHost

	exact      map[string]*VirtualHost
	suffix     []wildcard // "*.foo.com" → ".foo.com", longest first
	prefix     []wildcard // "foo.*" → "foo.", longest first
	any        *VirtualHost
	ignorePort bool
}

// NewTable compiles a route configuration with only virtual hosts. Errors
// name the virtual host and route at fault.
func NewTable(name string, vhosts []VirtualHostConfig) (*Table, error) {
	return NewTableConfig(TableConfig{Name: name, VirtualHosts: vhosts})
}

// NewTableConfig compiles a route configuration. Everything that can be
// decided before a request arrives is decided here: the header operations
// of every level are merged per route and weighted cluster, and the
// per-filter configs, retry and mirror policies inherited from the virtual
// host and the table.
func NewTableConfig(tc TableConfig) (*Table, error) {
	name, vhosts := tc.Name, tc.VirtualHosts
	t := &Table{Name: name, exact: make(map[string]*VirtualHost), ignorePort: tc.IgnorePortInHostMatching}
	seen := make(map[string]string)
	for _, vc := range vhosts {
		vh, err := newVirtualHost(vc, &tc)
		if err != nil {
			return nil, fmt.Errorf("virtual host %q: %w", vc.Name, err)
		}
		t.VirtualHosts = append(t.VirtualHosts, vh)
		for _, d := range vc.Domains {
			d = strings.ToLower(d)
			if other, dup := seen[d]; dup {
				return nil, fmt.Errorf("virtual host %q: domain %q is already used by virtual host %q", vc.Name, d, other)
			}
			seen[d] = vc.Name
			switch {
			case d == "*":
				t.any = vh
			case d == "":
				return nil, fmt.Errorf("virtual host %q: empty domain", vc.Name)
			case strings.HasPrefix(d, "*"):
				t.suffix = append(t.suffix, wildcard{d[1:], vh})
			case strings.HasSuffix(d, "*"):
				t.prefix = append(t.prefix, wildcard{d[:len(d)-1], vh})
			case strings.Contains(d, "*"):
				return nil, fmt.Errorf("virtual host %q: domain %q: a wildcard must be the first or last character", vc.Name, d)
			default:
				t.exact[d] = vh
			}
		}
	}
	longestFirst := func(a, b wildcard) int { return cmp.Compare(len(b.affix), len(a.affix)) }
	slices.SortStableFunc(t.suffix, longestFirst)
	slices.SortStableFunc(t.prefix, longestFirst)
	return t, nil
}

func newVirtualHost(vc VirtualHostConfig, tc *TableConfig) (*VirtualHost, error) {
	vh := &VirtualHost{
		Name:     vc.Name,
		Domains:  vc.Domains,
		exact:    make(map[string][]int32),
		prefixes: make(map[string][]int32),
	}
	lens := make(map[int]bool)
	for i, rc := range vc.Routes {
		rt, err := newRoute(rc, &vc, tc)
		if err != nil {
			name := rc.Name
			if name == "" {
				name = fmt.Sprint("#", i)
			}
			return nil, fmt.Errorf("route %s: %w", name, err)
		}
		vh.Routes = append(vh.Routes, rt)
		idx := int32(i)
		switch {
		case rt.pathKind == PathExact && !rt.caseFold:
			vh.exact[rt.path] = append(vh.exact[rt.path], idx)
		case rt.pathKind == PathPrefix && !rt.caseFold && !strings.Contains(rt.path, "?"):
			vh.prefixes[rt.path] = append(vh.prefixes[rt.path], idx)
			lens[len(rt.path)] = true
		default:
			vh.generic = append(vh.generic, idx)
		}
	}
	for l := range lens {
		vh.prefixLens = append(vh.prefixLens, l)
	}
	slices.Sort(vh.prefixLens)
	return vh, nil
}

func newRoute(rc RouteConfig, vc *VirtualHostConfig, tc *TableConfig) (*Route, error) {
	m := rc.Match
	rt := &Route{Name: rc.Name, Action: rc.Action, pathKind: m.PathKind, path: m.Path, grpc: m.GRPC}
	switch m.PathKind {
	case PathPrefix, PathExact, PathSeparatedPrefix:
		if m.CaseInsensitive {
			rt.caseFold = true
			rt.path = strings.ToLower(m.Path)
		}
		if m.PathKind == PathSeparatedPrefix && (strings.ContainsAny(m.Path, "?#") || strings.HasSuffix(m.Path, "/")) {
			return nil, fmt.Errorf("path_separated_prefix %q must not end with '/' nor contain '?' or '#'", m.Path)
		}
	case PathRegex:
		re, err := compileRegex(m.Path)
		if err != nil {
			return nil, err
		}
		rt.re = re
	default:
		return nil, fmt.Errorf("unknown path match kind %d", m.PathKind)
	}
	for _, h := range m.Headers {
		hm, err := compileHeader(h)
		if err != nil {
			return nil, err
		}
		rt.headers = append(rt.headers, hm)
	}
	for _, q := range m.Query {
		qm, err := compileQuery(q)
		if err != nil {
			return nil, err
		}
		rt.query = append(rt.query, qm)
	}
	a := rc.Action
	switch {
	case a.DirectStatus != 0:
		if a.DirectStatus < 200 || a.DirectStatus > 599 {
			return nil, fmt.Errorf("direct response status %d out of range", a.DirectStatus)
		}
	case len(a.Weighted) > 0:
		var sum uint64
		for _, w := range a.Weighted {
			if w.Name == "" {
				return nil, fmt.Errorf("weighted cluster without a name")
			}
			sum += uint64(w.Weight)
			rt.cumulative = append(rt.cumulative, sum)
		}
		if sum == 0 {
			return nil, fmt.Errorf("weighted clusters have a total weight of 0")
		}
	case a.Redirect != nil:
	case a.Cluster == "":
		return nil, fmt.Errorf("route has no cluster")
	}
	if err := rt.compileAction(rc, vc, tc); err != nil {
		return nil, err
	}
	return rt, nil
}

// VirtualHostFor selects the virtual host for a Host/:authority value:
// exact domain, then "*.suffix" wildcards (longest first), then "prefix.*"
// wildcards (longest first); first with the host as given, then with its
// port removed; then "*". With IgnorePortInHostMatching the port is
// removed first. Hosts compare case-insensitively.
func (t *Table) VirtualHostFor(host string) *VirtualHost {
	host = lowerASCII(host)
	h, hasPort := stripPort(host)
	if t.ignorePort && hasPort {
		host, hasPort = h, false
	}
	if vh := t.findHost(host); vh != nil {
		return vh
	}
	if hasPort {
		if vh := t.findHost(h); vh != nil {
			return vh
		}
	}
	return t.any
}

func (t *Table) findHost(h string) *VirtualHost {
	if vh, ok := t.exact[h]; ok {
		return vh
	}
	for i := range t.suffix {
		if w := &t.suffix[i]; len(h) > len(w.affix) && strings.HasSuffix(h, w.affix) {
			return w.vh
		}
	}
	for i := range t.prefix {
		if w := &t.prefix[i]; len(h) > len(w.affix) && strings.HasPrefix(h, w.affix) {
			return w.vh
		}
	}
	return nil
}

// Match finds the virtual host and the first matching route for r. Either
// result may be nil: no virtual host, or no route in it.
func (t *Table) Match(r *http.Request) (*VirtualHost, *Route) {
	vh := t.VirtualHostFor(r.Host)
	if vh == nil {
		return nil, nil
	}
	return vh, vh.Match(r)
}

// Match returns the first route of the virtual host that matches r, or nil.
func (vh *VirtualHost) Match(r *http.Request) *Route {
	path := r.URL.EscapedPath()
	best := int32(len(vh.Routes))
	if list, ok := vh.exact[path]; ok {
		best = vh.scan(list, best, r, path)
	}
	for _, l := range vh.prefixLens {
		if l > len(path) {
			break
		}
		if list, ok := vh.prefixes[path[:l]]; ok {
			best = vh.scan(list, best, r, path)
		}
	}
	best = vh.scan(vh.generic, best, r, path)
	if int(best) == len(vh.Routes) {
		return nil
	}
	return vh.Routes[best]
}

// scan returns the index of the first route in list (ascending indices)
// below best that matches, or best.
func (vh *VirtualHost) scan(list []int32, best int32, r *http.Request, path string) int32 {
	for _, i := range list {
		if i >= best {
			break
		}
		if vh.Routes[i].matches(r, path) {
			return i
		}
	}
	return best
}

func (rt *Route) matches(r *http.Request, path string) bool {
	switch rt.pathKind {
	case PathPrefix:
		if !rt.matchPrefix(r, path) {
			return false
		}
	case PathExact:
		if rt.caseFold {
			if !strings.EqualFold(path, rt.path) {
				return false
			}
		} else if path != rt.path {
			return false
		}
	case PathSeparatedPrefix:
		if !hasPrefixFold(path, rt.path, rt.caseFold) {
			return false
		}
		if len(path) > len(rt.path) && path[len(rt.path)] != '/' {
			return false
		}
	case PathRegex:
		if !rt.re.MatchString(path) {
			return false
		}
	}
	if rt.grpc && !isGRPC(r) {
		return false
	}
	for i := range rt.headers {
		if !rt.headers[i].match(r) {
			return false
		}
	}
	if len(rt.query) > 0 {
		for i := range rt.query {
			if !rt.query[i].match(r.URL.RawQuery) {
				return false
			}
		}
	}
	return true
}

// matchPrefix matches the prefix against the :path header (path and query).
func (rt *Route) matchPrefix(r *http.Request, path string) bool {
	p := rt.path
	if len(p) <= len(path) {
		return hasPrefixFold(path, p, rt.caseFold)
	}
	// The prefix is longer than the path: it can only match across the '?'.
	q := strings.IndexByte(p, '?')
	if q < 0 || q != len(path) || r.URL.RawQuery == "" && !r.URL.ForceQuery {
		return false
	}
	return hasPrefixFold(path, p[:q], rt.caseFold) && hasPrefixFold(r.URL.RawQuery, p[q+1:], rt.caseFold)
}

func hasPrefixFold(s, prefix string, fold bool) bool {
	if fold {
		return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
	}
	return strings.HasPrefix(s, prefix)
}

func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc")
}

// PickCluster returns the route's destination cluster; for weighted
// clusters it draws one at random, per request.
func (rt *Route) PickCluster() string { return rt.Pick().Cluster }

// Pick returns the route's target; for weighted clusters it draws one at
// random, per request. It is nil for redirect and direct-response routes.
func (rt *Route) Pick() *Target {
	if len(rt.cumulative) == 0 {
		if len(rt.targets) == 0 {
			return nil
		}
		return &rt.targets[0]
	}
	return rt.pickTarget(rand.Uint64N(rt.cumulative[len(rt.cumulative)-1]))
}

// PickWeighted returns the weighted cluster for a draw n in [0, total weight).
func (rt *Route) PickWeighted(n uint64) string { return rt.pickTarget(n).Cluster }

func (rt *Route) pickTarget(n uint64) *Target {
	for i, c := range rt.cumulative {
		if n < c {
			return &rt.targets[i]
		}
	}
	return &rt.targets[len(rt.targets)-1]
}

// lowerASCII lower-cases s, allocating only if it has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// stripPort removes a ":port" suffix (IPv6 literals in brackets are kept).
func stripPort(h string) (string, bool) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.IndexByte(h[i:], ']') >= 0 {
		return h, false
	}
	if strings.Count(h, ":") > 1 && !strings.HasPrefix(h, "[") {
		return h, false // bare IPv6 address
	}
	return h[:i], true
}

func unescapeQuery(s string) (string, error) { return url.QueryUnescape(s) }
