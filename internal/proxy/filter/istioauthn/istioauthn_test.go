package istioauthn_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/halyard-mesh/halyard/internal/jwk/jwktest"
	"github.com/halyard-mesh/halyard/internal/proxy/filter"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/filtertest"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/istioauthn"
	"github.com/halyard-mesh/halyard/internal/proxy/filter/jwtauthn"
	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
	"github.com/halyard-mesh/halyard/internal/proxy/router"
)

// capture records the istio_authn metadata a later filter sees.
type capture struct {
	got atomic.Pointer[structpb.Struct]
}

func (c *capture) OnRequest(x *hcm.Exchange) bool {
	c.got.Store(x.Metadata(istioauthn.Name))
	return true
}
func (c *capture) OnResponse(*hcm.Exchange, int, http.Header) {}

func TestAttributes(t *testing.T) {
	k, err := jwktest.NewKey("RS256", "k")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	pb := &jwtv3.JwtAuthentication{
		Providers: map[string]*jwtv3.JwtProvider{"origins-0": {
			Issuer: "https://iss", PayloadInMetadata: "https://iss",
			JwksSourceSpecifier: &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
				Specifier: &corev3.DataSource_InlineString{InlineString: jwktest.JWKS(k)}}},
		}},
		Rules: []*jwtv3.RequirementRule{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtv3.RequirementRule_Requires{Requires: &jwtv3.JwtRequirement{
				RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{Requirements: []*jwtv3.JwtRequirement{
					{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: "origins-0"}},
					{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}},
				}}}}}}},
	}
	cfg, err := jwtauthn.Compile(pb)
	if err != nil {
		t.Fatal(err)
	}
	e := filter.Lookup(istioauthn.Name, "type.googleapis.com/xds.type.v3.TypedStruct")
	if e == nil {
		t.Fatal("istio_authn is not registered")
	}
	ia, err := e.New(nil, e.Slot())
	if err != nil {
		t.Fatal(err)
	}
	cp := &capture{}
	p := filtertest.Start(t, []hcm.Filter{jwtauthn.New(cfg, func() time.Time { return now }), ia, cp},
		router.VirtualHostConfig{Routes: []router.RouteConfig{{Name: "r", Match: router.Match{PathKind: router.PathPrefix, Path: "/"},
			Action: router.Action{Cluster: "up"}}}})
	tok := k.Sign(map[string]any{"iss": "https://iss", "sub": "alice", "aud": []string{"a", "b"}, "azp": "web",
		"groups": []string{"dev", "ops"}, "email": "alice@example.com", "level": 3, "admin": true,
		"org": map[string]any{"team": "blue"}, "exp": now.Add(time.Hour).Unix()}, nil)
	resp, body := p.Do(t, &http.Client{}, "GET", "/", http.Header{"Authorization": {"Bearer " + tok}})
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	got := cp.got.Load()
	want := `{"request.auth.audiences":["a","b"],"request.auth.claims":{"admin":true,"aud":["a","b"],"azp":["web"],` +
		`"email":["alice@example.com"],"exp":1800003600,"groups":["dev","ops"],"iss":["https://iss"],"level":3,` +
		`"org":{"team":["blue"]},"sub":["alice"]},"request.auth.presenter":"web","request.auth.principal":"https://iss/alice"}`
	if s := canon(t, got); s != want {
		t.Errorf("istio_authn metadata\n got %s\nwant %s", s, want)
	}
	// No token: no attributes.
	cp.got.Store(&structpb.Struct{})
	if resp, _ = p.Do(t, &http.Client{}, "GET", "/", nil); resp.StatusCode != 200 || cp.got.Load() != nil {
		t.Errorf("without a token: %d, metadata %v", resp.StatusCode, cp.got.Load())
	}
}

func canon(t *testing.T, s *structpb.Struct) string {
	t.Helper()
	if s == nil {
		return "<nil>"
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	// protojson's spacing is unstable on purpose: round-trip through
	// encoding/json for a canonical form.
	return compact(t, b)
}
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
