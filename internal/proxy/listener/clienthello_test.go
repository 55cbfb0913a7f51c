package listener

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// clientHello returns the bytes a Go TLS client sends first.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		tc := tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
		_ = tc.Handshake()
		c.Close()
	}()
	var buf bytes.Buffer
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	buf.Write(hdr)
	buf.Write(body)
	return buf.Bytes()
}

// fragment splits a single-record ClientHello into records of at most n
// bytes.
func fragment(rec []byte, n int) []byte {
	var out []byte
	body := rec[5:]
	for len(body) > 0 {
		k := min(n, len(body))
		out = append(out, rec[0], rec[1], rec[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

func TestReadClientHello(t *testing.T) {
	hello := clientHello(t, "API.example.com")
	noSNI := clientHello(t, "")
	for _, tc := range []struct {
		name    string
		in      []byte
		sni     string
		read    int // bytes consumed; -1: all of in
		wantErr bool
	}{
		{"go client", hello, "api.example.com", -1, false},
		{"fragmented", fragment(hello, 100), "api.example.com", -1, false},
		{"no server name", noSNI, "", -1, false},
		{"plain text", []byte("GET / HTTP/1.1\r\n\r\n"), "", 5, false},
		{"truncated", hello[:len(hello)-10], "", -1, true},
		{"not a client hello", []byte{22, 3, 1, 0, 4, 2, 0, 0, 0}, "", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(append(tc.in, []byte("rest")...))
			if tc.wantErr {
				r = bytes.NewReader(tc.in)
			}
			sni, data, err := readClientHello(r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if sni != tc.sni {
				t.Errorf("sni %q, want %q", sni, tc.sni)
			}
			want := tc.in
			if tc.read >= 0 {
				want = tc.in[:tc.read]
			}
			if !tc.wantErr && !bytes.Equal(data, want) {
				t.Errorf("returned %d bytes, want the %d read", len(data), len(want))
			}
		})
	}
}
