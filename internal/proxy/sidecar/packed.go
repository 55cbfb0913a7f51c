package sidecar

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/types/known/anypb"
)

// packed is an applied resource set in wire form, compressed, for
// /config_dump only: a large mesh's config is megabytes on the wire and
// compresses about tenfold (type URLs, names and service accounts repeat),
// and the dump is rare. Each resource is its length (uvarint) and value.
type packed []byte

func pack(resources []*anypb.Any) (packed, error) {
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	var n [binary.MaxVarintLen64]byte
	for _, a := range resources {
		if _, err := zw.Write(n[:binary.PutUvarint(n[:], uint64(len(a.GetValue())))]); err != nil {
			return nil, err
		}
		if _, err := zw.Write(a.GetValue()); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// each calls f with every resource, as an Any of typeURL.
func (p packed) each(typeURL string, f func(*anypb.Any) error) error {
	if p == nil {
		return nil
	}
	r := bufio.NewReader(flate.NewReader(bytes.NewReader(p)))
	for {
		size, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sidecar: unpack: %w", err)
		}
		v := make([]byte, size)
		if _, err := io.ReadFull(r, v); err != nil {
			return fmt.Errorf("sidecar: unpack: %w", err)
		}
		if err := f(&anypb.Any{TypeUrl: typeURL, Value: v}); err != nil {
			return err
		}
	}
}
