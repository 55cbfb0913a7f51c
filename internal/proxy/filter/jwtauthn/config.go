package jwtauthn

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"

	"github.com/halyard-mesh/halyard/internal/jwk"
)

// DefaultClockSkew is Envoy's clock_skew_seconds default.
const DefaultClockSkew = 60 * time.Second

// provider is a compiled JwtProvider.
type provider struct {
	name       string
	issuer     string
	audiences  []string // sanitised
	keys       []jwk.Key
	forward    bool
	headers    []headerLoc
	params     []string
	cookies    []string
	payloadHdr string // forward_payload_header, canonical
	padPayload bool
	metaKey    string // payload_in_metadata
	claimHdrs  []claimHeader
	skew       time.Duration
	requireExp bool
	cache      tokenCache
}

type headerLoc struct {
	name   string // canonical
	prefix string
}

type claimHeader struct {
	header string   // canonical
	path   []string // claim_name split at dots
}

// reqKind is the kind of a requirement node.
type reqKind uint8

const (
	reqProvider reqKind = iota
	reqAny
	reqAll
	reqAllowMissing
	reqAllowMissingOrFailed
)

// requirement is a compiled JwtRequirement.
type requirement struct {
	kind     reqKind
	provider int // index in Config.providers (reqProvider)
	children []*requirement
}

// rule is a compiled RequirementRule: a path match and its requirement.
type rule struct {
	prefix, path string
	req          *requirement // nil: no requirement
}

// Config is a compiled JwtAuthentication.
type Config struct {
	providers  []*provider
	rules      []rule
	bypassCORS bool
	stripBody  bool
}

// Compile checks and compiles a JwtAuthentication. Remote JWKS (the
// control plane inlines them as local_jwks), filter_state_rules,
// requirement_map and route matches other than prefix and path are
// rejected rather than ignored, so no request escapes a requirement.
func Compile(pb *jwtv3.JwtAuthentication) (*Config, error) {
	switch {
	case pb.GetFilterStateRules() != nil:
		return nil, errors.New("jwt_authn: filter_state_rules is not supported")
	case len(pb.GetRequirementMap()) > 0:
		return nil, errors.New("jwt_authn: requirement_map is not supported")
	}
	c := &Config{bypassCORS: pb.GetBypassCorsPreflight(), stripBody: pb.GetStripFailureResponse()}
	names := make([]string, 0, len(pb.GetProviders()))
	for n := range pb.GetProviders() {
		names = append(names, n)
	}
	sort.Strings(names)
	index := make(map[string]int, len(names))
	for _, n := range names {
		p, err := compileProvider(n, pb.GetProviders()[n])
		if err != nil {
			return nil, err
		}
		index[n] = len(c.providers)
		c.providers = append(c.providers, p)
	}
	for i, r := range pb.GetRules() {
		cr, err := compileRule(r, index)
		if err != nil {
			return nil, fmt.Errorf("jwt_authn: rules[%d]: %w", i, err)
		}
		c.rules = append(c.rules, cr)
	}
	return c, nil
}

func compileProvider(name string, p *jwtv3.JwtProvider) (*provider, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("jwt_authn: provider %q: "+format, append([]any{name}, args...)...)
	}
	switch {
	case p.GetRemoteJwks() != nil:
		return nil, fail("remote_jwks is not supported (inline the keys as local_jwks)")
	case p.GetSubjects() != nil:
		return nil, fail("subjects is not supported")
	case p.GetMaxLifetime() != nil:
		return nil, fail("max_lifetime is not supported")
	case len(p.GetClaimToHeaders()) > 0 && hasClaimPath(p.GetClaimToHeaders()):
		return nil, fail("claim_to_headers claim_path is not supported (use claim_name)")
	}
	keys, err := localKeys(p)
	if err != nil {
		return nil, fail("%w", err)
	}
	out := &provider{
		name: name, issuer: p.GetIssuer(), keys: keys, forward: p.GetForward(),
		params: p.GetFromParams(), cookies: p.GetFromCookies(),
		padPayload: p.GetPadForwardPayloadHeader(), metaKey: p.GetPayloadInMetadata(),
		skew: DefaultClockSkew, requireExp: p.GetRequireExpiration(),
	}
	if s := p.GetClockSkewSeconds(); s != 0 {
		out.skew = time.Duration(s) * time.Second
	}
	if h := p.GetForwardPayloadHeader(); h != "" {
		out.payloadHdr = http.CanonicalHeaderKey(h)
	}
	for _, a := range p.GetAudiences() {
		out.audiences = append(out.audiences, sanitizeAudience(a))
	}
	if err := out.locations(p); err != nil {
		return nil, fail("%w", err)
	}
	return out, nil
}

// localKeys parses the provider's inline key set.
func localKeys(p *jwtv3.JwtProvider) ([]jwk.Key, error) {
	src := p.GetLocalJwks()
	var data []byte
	switch {
	case src == nil:
		return nil, errors.New("local_jwks is required")
	case src.GetInlineString() != "":
		data = []byte(src.GetInlineString())
	case len(src.GetInlineBytes()) > 0:
		data = src.GetInlineBytes()
	default:
		return nil, errors.New("local_jwks must be inline_string or inline_bytes")
	}
	keys, err := jwk.ParseSet(data)
	if err != nil {
		return nil, fmt.Errorf("local_jwks: %w", err)
	}
	return keys, nil
}

// locations compiles where the token is read and which claims are copied
// into headers. With no location, Envoy's defaults apply.
func (pr *provider) locations(cfg *jwtv3.JwtProvider) error {
	for _, h := range cfg.GetFromHeaders() {
		if h.GetName() == "" {
			return errors.New("from_headers: a header needs a name")
		}
		pr.headers = append(pr.headers, headerLoc{name: http.CanonicalHeaderKey(h.GetName()), prefix: h.GetValuePrefix()})
	}
	if len(pr.headers) == 0 && len(pr.params) == 0 && len(pr.cookies) == 0 {
		pr.headers = []headerLoc{{name: "Authorization", prefix: "Bearer "}}
		pr.params = []string{"access_token"}
	}
	for _, ch := range cfg.GetClaimToHeaders() {
		if ch.GetHeaderName() == "" || ch.GetClaimName() == "" {
			return errors.New("claim_to_headers needs header_name and claim_name")
		}
		pr.claimHdrs = append(pr.claimHdrs, claimHeader{header: http.CanonicalHeaderKey(ch.GetHeaderName()),
			path: strings.Split(ch.GetClaimName(), ".")})
	}
	return nil
}

func hasClaimPath(c []*jwtv3.JwtClaimToHeader) bool {
	for _, ch := range c {
		if len(ch.GetClaimPath()) > 0 {
			return true
		}
	}
	return false
}

func compileRule(r *jwtv3.RequirementRule, index map[string]int) (rule, error) {
	m := r.GetMatch()
	var out rule
	switch {
	case m == nil:
		return out, errors.New("match is required")
	case len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || len(m.GetCookies()) > 0 ||
		m.GetGrpc() != nil || m.GetTlsContext() != nil || len(m.GetDynamicMetadata()) > 0 ||
		m.GetRuntimeFraction() != nil || (m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()):
		return out, errors.New("only prefix and path matches are supported")
	case m.GetPrefix() != "" || m.GetPathSpecifier() == nil:
		out.prefix = m.GetPrefix()
	case m.GetPath() != "":
		out.path = m.GetPath()
	default:
		return out, errors.New("only prefix and path matches are supported")
	}
	if r.GetRequirementName() != "" {
		return out, errors.New("requirement_name is not supported")
	}
	if req := r.GetRequires(); req != nil {
		cr, err := compileRequirement(req, index, 0)
		if err != nil {
			return out, err
		}
		out.req = cr
	}
	return out, nil
}

// maxDepth bounds nested requirements.
const maxDepth = 8

func compileRequirement(r *jwtv3.JwtRequirement, index map[string]int, depth int) (*requirement, error) {
	if depth > maxDepth {
		return nil, errors.New("requirements nested too deep")
	}
	providerReq := func(name string) (*requirement, error) {
		i, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("unknown provider %q", name)
		}
		return &requirement{kind: reqProvider, provider: i}, nil
	}
	list := func(kind reqKind, reqs []*jwtv3.JwtRequirement) (*requirement, error) {
		if len(reqs) < 2 {
			return nil, errors.New("requires_any and requires_all need at least two requirements")
		}
		out := &requirement{kind: kind}
		for _, c := range reqs {
			cr, err := compileRequirement(c, index, depth+1)
			if err != nil {
				return nil, err
			}
			out.children = append(out.children, cr)
		}
		return out, nil
	}
	switch t := r.GetRequiresType().(type) {
	case *jwtv3.JwtRequirement_ProviderName:
		return providerReq(t.ProviderName)
	case *jwtv3.JwtRequirement_RequiresAny:
		return list(reqAny, t.RequiresAny.GetRequirements())
	case *jwtv3.JwtRequirement_RequiresAll:
		return list(reqAll, t.RequiresAll.GetRequirements())
	case *jwtv3.JwtRequirement_AllowMissing:
		return &requirement{kind: reqAllowMissing}, nil
	case *jwtv3.JwtRequirement_AllowMissingOrFailed:
		return &requirement{kind: reqAllowMissingOrFailed}, nil
	case nil:
		return nil, errors.New("empty requirement")
	default:
		return nil, fmt.Errorf("requirement %T is not supported", t)
	}
}
