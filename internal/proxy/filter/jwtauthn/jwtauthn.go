// Package jwtauthn is Envoy's JWT authentication filter
// (envoy.filters.http.jwt_authn), as Istio's RequestAuthentication uses
// it: providers with an issuer, audiences and inline keys (local_jwks; the
// control plane fetches jwksUri itself), token locations (headers with a
// value prefix, query parameters, cookies), and requirement rules
// (provider_name, requires_any, requires_all, allow_missing,
// allow_missing_or_failed; provider_and_audiences is refused) chosen by
// path prefix or exact path.
//
// A verified token's payload is published as dynamic metadata under
// "envoy.filters.http.jwt_authn" (key payload_in_metadata), forwarded in
// forward_payload_header (base64url), and claims are copied into
// claim_to_headers; the token's header is removed unless forward is set. A
// request that fails its requirement is answered 401 with Envoy's status
// text as the body, a token whose only fault is its audience too (Envoy
// answers that one 403; a token not meant for this service is treated as
// any other invalid token).
//
// Tokens are verified with the standard library's crypto (RS256/384/512,
// PS256/384/512, ES256/384/512, EdDSA) and keys parsed by internal/jwk
// when the filter is built, never per request. go-jose would add a module
// and its reflection-heavy JSON layer to every sidecar for what is here
// about 300 lines over crypto/rsa, crypto/ecdsa and crypto/ed25519; the
// standard library also keeps alg "none" and HMAC out by construction
// (they are simply not implemented).
package jwtauthn

import (
	"net/http"
	"strings"
	"time"

	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Name is the filter's name.
const Name = "envoy.filters.http.jwt_authn"

// MetadataNamespace is where verified payloads are published.
const MetadataNamespace = Name

const configType = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"

func init() {
	filter.Register(&filter.Factory{
		Name:        Name,
		ConfigTypes: []string{configType},
		New: func(a *anypb.Any, _ int) (hcm.Filter, error) {
			pb := &jwtv3.JwtAuthentication{}
			if a != nil {
				if err := a.UnmarshalTo(pb); err != nil {
					return nil, err
				}
			}
			c, err := Compile(pb)
			if err != nil {
				return nil, err
			}
			return New(c, time.Now), nil
		},
	})
}

// Filter is a jwt_authn filter of one HCM.
type Filter struct {
	cfg *Config
	now func() time.Time
}

// New returns the filter for a compiled config with a clock.
func New(c *Config, now func() time.Time) *Filter { return &Filter{cfg: c, now: now} }

var _ hcm.Filter = (*Filter)(nil)

// OnRequest verifies the request's tokens against the first rule whose
// path matches (no rule: the request passes).
func (f *Filter) OnRequest(x *hcm.Exchange) bool {
	r := x.Request
	if f.cfg.bypassCORS && r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != "" {
		return true
	}
	req := f.cfg.match(r.URL.Path)
	if req == nil {
		return true
	}
	c := check{cfg: f.cfg, r: r}
	if f.cfg.anyToken(r) {
		c.res = make([]result, len(f.cfg.providers))
		c.now = f.now()
	}
	st := c.eval(req)
	if c.res != nil {
		f.apply(x, &c)
	}
	if st == OK {
		return true
	}
	f.reject(x, st)
	return false
}

// OnResponse does nothing.
func (f *Filter) OnResponse(*hcm.Exchange, int, http.Header) {}

func (c *Config) match(path string) *requirement {
	for i := range c.rules {
		r := &c.rules[i]
		if (r.path != "" && path == r.path) || (r.path == "" && strings.HasPrefix(path, r.prefix)) {
			return r.req
		}
	}
	return nil
}

// reject answers 401, the status text as the body, and a WWW-Authenticate
// challenge.
func (f *Filter) reject(x *hcm.Exchange, st Status) {
	code := http.StatusUnauthorized
	r := x.Request
	x.ResponseHeader().Set("Www-Authenticate", `Bearer realm="http://`+r.Host+r.URL.Path+`", error="invalid_token"`)
	body := st.String()
	if f.cfg.stripBody {
		body = ""
	}
	x.SendLocalReply(code, 0, "jwt_authn_access_denied{"+strings.ReplaceAll(st.String(), " ", "_")+"}", body)
}

// result is one provider's verification in a request.
type result struct {
	done bool
	st   Status
	tok  *token
	hdr  string // the header the token came from ("" for a param or cookie)
}

// check evaluates a requirement for one request. res is nil when the
// request carries no token anywhere: every provider is then Missing,
// without allocating.
type check struct {
	cfg *Config
	r   *http.Request
	now time.Time
	res []result
}

func (c *check) provider(i int) Status {
	if c.res == nil {
		return Missing
	}
	res := &c.res[i]
	if !res.done {
		res.done = true
		res.st, res.tok, res.hdr = c.cfg.providers[i].verify(c.r, c.now)
	}
	return res.st
}

func (c *check) eval(q *requirement) Status {
	switch q.kind {
	case reqProvider:
		return c.provider(q.provider)
	case reqAllowMissingOrFailed:
		return OK
	case reqAllowMissing:
		return c.allowMissing()
	case reqAll:
		for _, ch := range q.children {
			if st := c.eval(ch); st != OK {
				return st
			}
		}
		return OK
	}
	// reqAny: the first success, else the first failure other than
	// Missing, else Missing.
	fail := Missing
	for _, ch := range q.children {
		st := c.eval(ch)
		if st == OK {
			return OK
		}
		if fail == Missing {
			fail = st
		}
	}
	return fail
}

// allowMissing succeeds when no token is present, or when the tokens
// present verify with the providers of their issuers, as Envoy's
// allow_missing: a present token that fails fails it, and so does a token
// of an issuer no provider has.
func (c *check) allowMissing() Status {
	if c.res == nil {
		return OK
	}
	ok, unknown := false, false
	for i := range c.cfg.providers {
		switch st := c.provider(i); st {
		case OK:
			ok = true
		case Missing:
		case UnknownIssuer:
			unknown = true
		default:
			return st
		}
	}
	if unknown && !ok {
		return UnknownIssuer
	}
	return OK
}

// apply publishes what the providers that verified learned: metadata,
// payload and claim headers; it removes their token headers unless
// forward is set.
func (f *Filter) apply(x *hcm.Exchange, c *check) {
	var meta *structpb.Struct
	for i := range c.res {
		res := &c.res[i]
		if !res.done || res.st != OK {
			continue
		}
		p := f.cfg.providers[i]
		h := x.Request.Header
		if !p.forward && res.hdr != "" {
			h.Del(res.hdr)
		}
		if p.payloadHdr != "" {
			v := res.tok.payloadB64
			if p.padPayload {
				v += strings.Repeat("=", (4-len(v)%4)%4)
			}
			h.Set(p.payloadHdr, v)
		}
		for _, ch := range p.claimHdrs {
			if v, ok := claimString(res.tok.claims, ch.path); ok {
				h.Set(ch.header, v)
			}
		}
		if p.metaKey != "" {
			s, err := structpb.NewStruct(res.tok.claims)
			if err != nil {
				continue
			}
			if meta == nil {
				meta = &structpb.Struct{Fields: map[string]*structpb.Value{}}
			}
			meta.Fields[p.metaKey] = structpb.NewStructValue(s)
		}
	}
	if meta != nil {
		x.SetMetadata(MetadataNamespace, meta)
	}
}
