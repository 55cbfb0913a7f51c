package sample

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// encodePadded gives exactly size bytes of valid JSON for every size at or
// above the plain length, including sizes too close to it for a padding
// field.
func TestEncodePadded(t *testing.T) {
	base := &Reply{Service: "s", Version: "v", Instance: "i", Headers: http.Header{"A": {"b"}}}
	plain, err := encode(base)
	if err != nil {
		t.Fatal(err)
	}
	for size := 0; size < len(plain)+40; size++ {
		r := *base
		body, err := encodePadded(&r, size)
		if err != nil {
			t.Fatal(err)
		}
		want := max(size, len(plain))
		if len(body) != want || !json.Valid(body) || body[len(body)-1] != '\n' {
			t.Errorf("size %d: %d bytes %q, want %d bytes of JSON", size, len(body), body, want)
		}
	}
}

func TestParseParams(t *testing.T) {
	q := url.Values{"delay": {"1.5s"}, "status": {"503:12.5"}, "size": {"1024"}, "strict": {"true"}}
	p, err := parseParams(q, params{})
	if err != nil {
		t.Fatal(err)
	}
	want := params{delay: 1500 * time.Millisecond, status: 503, percent: 12.5, size: 1024, strict: true}
	if p != want {
		t.Errorf("params = %+v, want %+v", p, want)
	}
	if p, _ := parseParams(url.Values{"status": {"418"}}, params{}); p.percent != 100 || p.pickStatus() != 418 {
		t.Errorf("status without percentage: %+v", p)
	}
	if (params{}).pickStatus() != 0 {
		t.Error("no status param injected a status")
	}
}

func TestActivity(t *testing.T) {
	var a activity
	a.wait() // zero: returns at once
	a.add(2)
	done := make(chan struct{})
	go func() { a.wait(); close(done) }()
	a.add(-1)
	select {
	case <-done:
		t.Fatal("wait returned with a count of 1")
	case <-time.After(20 * time.Millisecond):
	}
	a.add(-1)
	<-done
}
