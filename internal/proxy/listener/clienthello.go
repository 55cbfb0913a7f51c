package listener

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// TLS record and handshake constants (RFC 8446).
const (
	recordHandshake     = 22
	handshakeClientHelo = 1
	extServerName       = 0
	maxRecordLen        = 16384 + 2048
	maxClientHelloLen   = 64 << 10
)

var errClientHello = errors.New("listener: malformed TLS ClientHello")

// readClientHello reads a connection's first TLS handshake message, as
// Envoy's tls_inspector does, and returns the SNI server name (lower-case)
// together with every byte it read, which must be sent upstream before the
// rest: the ClientHello is inspected, not consumed. Data that is not a TLS
// handshake ends the reading at once with no name and no error.
func readClientHello(r io.Reader) (name string, data []byte, err error) {
	var hs []byte // the handshake message, reassembled from records
	for {
		start := len(data)
		data = append(data, make([]byte, 5)...)
		if _, err := io.ReadFull(r, data[start:]); err != nil {
			return "", data[:start], err
		}
		hdr := data[start:]
		if hdr[0] != recordHandshake || hdr[1] != 3 {
			return "", data, nil // not TLS
		}
		n := int(binary.BigEndian.Uint16(hdr[3:5]))
		if n == 0 || n > maxRecordLen || len(data)+n > maxClientHelloLen {
			return "", data, errClientHello
		}
		start = len(data)
		data = append(data, make([]byte, n)...)
		if _, err := io.ReadFull(r, data[start:]); err != nil {
			return "", data[:start], err
		}
		hs = append(hs, data[start:]...)
		if len(hs) >= 4 {
			if hs[0] != handshakeClientHelo {
				return "", data, nil
			}
			if msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]); len(hs) >= 4+msgLen {
				name, err := serverName(hs[4 : 4+msgLen])
				return name, data, err
			}
		}
	}
}

// serverName parses a ClientHello body for its server_name extension.
func serverName(b []byte) (string, error) {
	p := parser(b)
	if !p.skip(2+32) || !p.skipVec(1) || !p.skipVec(2) || !p.skipVec(1) {
		return "", errClientHello
	}
	if len(p) == 0 {
		return "", nil // no extensions
	}
	exts, ok := p.vec(2)
	if !ok {
		return "", errClientHello
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return "", errClientHello
		}
		if typ != extServerName {
			continue
		}
		list, ok := body.vec(2)
		if !ok {
			return "", errClientHello
		}
		for len(list) > 0 {
			nameType, ok1 := list.u8()
			name, ok2 := list.vec(2)
			if !ok1 || !ok2 {
				return "", errClientHello
			}
			if nameType == 0 { // host_name
				return strings.ToLower(string(name)), nil
			}
		}
		return "", nil
	}
	return "", nil
}

// parser reads big-endian fields off the front of a byte slice.
type parser []byte

func (p *parser) skip(n int) bool {
	if len(*p) < n {
		return false
	}
	*p = (*p)[n:]
	return true
}

func (p *parser) u8() (byte, bool) {
	if len(*p) < 1 {
		return 0, false
	}
	v := (*p)[0]
	*p = (*p)[1:]
	return v, true
}

func (p *parser) u16() (uint16, bool) {
	if len(*p) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*p)
	*p = (*p)[2:]
	return v, true
}

// vec reads a vector with a lenBytes-long length prefix.
func (p *parser) vec(lenBytes int) (parser, bool) {
	if len(*p) < lenBytes {
		return nil, false
	}
	n := 0
	for _, c := range (*p)[:lenBytes] {
		n = n<<8 | int(c)
	}
	*p = (*p)[lenBytes:]
	if len(*p) < n {
		return nil, false
	}
	v := (*p)[:n]
	*p = (*p)[n:]
	return v, true
}

func (p *parser) skipVec(lenBytes int) bool {
	_, ok := p.vec(lenBytes)
	return ok
}
