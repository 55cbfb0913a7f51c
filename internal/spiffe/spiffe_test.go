package spiffe

import (
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	id, err := Parse("spiffe://cluster.local/ns/default/sa/bookinfo-reviews")
	if err != nil {
		t.Fatal(err)
	}
	want := ID{TrustDomain: "cluster.local", Namespace: "default", ServiceAccount: "bookinfo-reviews"}
	if id != want {
		t.Fatalf("got %+v, want %+v", id, want)
	}
	if got := id.String(); got != "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" {
		t.Errorf("String() = %q", got)
	}
	if got := id.URL().String(); got != id.String() {
		t.Errorf("URL() = %q, want %q", got, id.String())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://cluster.local/ns/a/sa/b", "want the scheme spiffe://"},
		{"spiffe://cluster.local/ns/a", "want spiffe://<trust-domain>/ns/"},
		{"spiffe://cluster.local/ns/a/sa/b/c", "want spiffe://<trust-domain>/ns/"},
		{"spiffe://cluster.local/namespace/a/sa/b", "want spiffe://<trust-domain>/ns/"},
		{"spiffe:///ns/a/sa/b", "empty trust domain"},
		{"spiffe://td/ns//sa/b", "empty namespace"},
		{"spiffe://td/ns/a/sa/b c", "not allowed"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestFromCertificate(t *testing.T) {
	u1, _ := url.Parse("spiffe://td/ns/a/sa/b")
	u2, _ := url.Parse("spiffe://td/ns/a/sa/c")
	web, _ := url.Parse("https://example.com/")
	if got, err := FromCertificate(&x509.Certificate{URIs: []*url.URL{web, u1}}); err != nil || got != u1.String() {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := FromCertificate(&x509.Certificate{URIs: []*url.URL{web}}); !errors.Is(err, ErrNoID) {
		t.Errorf("no spiffe SAN: got %v, want ErrNoID", err)
	}
	if _, err := FromCertificate(&x509.Certificate{URIs: []*url.URL{u1, u2}}); err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Errorf("two spiffe SANs: got %v", err)
	}
}
