package identity

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The sidecar asks for certificates with Istio's
// istio.v1.auth.IstioCertificateService/CreateCertificate. Its generated
// Go client lives in istio.io/api, which the data plane does not import
// (it pulls istio.io/api and github.com/golang/protobuf into every
// sidecar), so the two messages are encoded here by hand with protowire,
// following security/v1alpha1/ca.proto:
//
//	message IstioCertificateRequest  { string csr = 1; int64 validity_duration = 3; google.protobuf.Struct metadata = 4; }
//	message IstioCertificateResponse { repeated string cert_chain = 1; }
//
// metadata is never sent. internal/ca's tests check this codec against the
// real generated types and server.
const createCertificateMethod = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

// certRequest is IstioCertificateRequest.
type certRequest struct {
	CSR              string
	ValidityDuration int64 // seconds; 0 leaves the choice to the CA
}

// certResponse is IstioCertificateResponse.
type certResponse struct {
	CertChain []string
}

const (
	fieldCSR              = 1
	fieldValidityDuration = 3
	fieldCertChain        = 1
)

func (r *certRequest) marshal() []byte {
	var b []byte
	if r.CSR != "" {
		b = protowire.AppendTag(b, fieldCSR, protowire.BytesType)
		b = protowire.AppendString(b, r.CSR)
	}
	if r.ValidityDuration != 0 {
		b = protowire.AppendTag(b, fieldValidityDuration, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.ValidityDuration))
	}
	return b
}

func (r *certResponse) unmarshal(b []byte) error {
	r.CertChain = r.CertChain[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("identity: decode response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == fieldCertChain && typ == protowire.BytesType {
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				return fmt.Errorf("identity: decode response: cert_chain: %w", protowire.ParseError(n))
			}
			r.CertChain = append(r.CertChain, s)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b) // unknown fields are skipped, as proto3 does
		if n < 0 {
			return fmt.Errorf("identity: decode response: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// wireCodec is the gRPC codec of the two messages. Its name is "proto" so
// the content type is application/grpc+proto, what the server expects.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) ([]byte, error) {
	r, ok := v.(*certRequest)
	if !ok {
		return nil, fmt.Errorf("identity: codec cannot marshal %T", v)
	}
	return r.marshal(), nil
}

func (wireCodec) Unmarshal(b []byte, v any) error {
	r, ok := v.(*certResponse)
	if !ok {
		return errors.New("identity: codec can only unmarshal a certificate response")
	}
	return r.unmarshal(b)
}
