package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func mustKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func TestWireRequest(t *testing.T) {
	b, err := wireCodec{}.Marshal(&certRequest{CSR: "abc", ValidityDuration: 86400})
	if err != nil {
		t.Fatal(err)
	}
	// field 1 (csr), length 3, "abc"; field 3 (validity_duration) varint 86400.
	want := []byte{0x0a, 3, 'a', 'b', 'c', 0x18, 0x80, 0xa3, 0x05}
	if !bytes.Equal(b, want) {
		t.Errorf("got % x, want % x", b, want)
	}
	if _, err := (wireCodec{}).Marshal("x"); err == nil {
		t.Error("marshalled a string")
	}
}

func TestWireResponse(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "leaf")
	b = protowire.AppendTag(b, 7, protowire.VarintType) // unknown: skipped
	b = protowire.AppendVarint(b, 42)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "root")
	var r certResponse
	if err := (wireCodec{}).Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.CertChain, ",") != "leaf,root" {
		t.Errorf("cert_chain %q", r.CertChain)
	}
	if err := (wireCodec{}).Unmarshal(b[:len(b)-2], &r); err == nil || !strings.Contains(err.Error(), "identity: decode response") {
		t.Errorf("truncated: %v", err)
	}
}
