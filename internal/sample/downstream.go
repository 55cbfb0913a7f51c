package sample

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpproxy"
)

// caller makes the downstream calls of one sample instance.
type caller struct {
	urls   []string
	client *http.Client
	log    *slog.Logger
}

// callAll calls every downstream URL in order, propagating the tracing
// headers of in. A failing call is recorded, never returned.
func (c *caller) callAll(ctx context.Context, in http.Header) []Call {
	if len(c.urls) == 0 {
		return nil
	}
	out := propagate(in)
	calls := make([]Call, 0, len(c.urls))
	for _, u := range c.urls {
		calls = append(calls, c.call(ctx, u, out))
	}
	return calls
}

func (c *caller) call(ctx context.Context, target string, header http.Header) Call {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return Call{URL: target, Error: fmt.Sprintf("sample: downstream %s: %v", target, err)}
	}
	req.Header = header.Clone()
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Debug("downstream call failed", "url", target, "err", err)
		return Call{URL: target, Error: fmt.Sprintf("sample: downstream: %v", err)}
	}
	defer drainClose(resp.Body)
	res := callResult(target, resp)
	if res.Failed() {
		c.log.Debug("downstream call failed", "url", target, "status", res.Status, "err", res.Error)
	}
	return res
}

// callResult summarises a downstream reply. An error status or a body that
// is not a sample reply makes the call failed.
func callResult(target string, resp *http.Response) Call {
	res := Call{URL: target, Status: resp.StatusCode}
	r, err := decodeReply(resp)
	if err == nil {
		res.Service, res.Version, res.Instance = r.Service, r.Version, r.Instance
		res.Calls = r.Calls
	}
	switch {
	case resp.StatusCode >= 400:
		res.Error = fmt.Sprintf("sample: downstream %s: status %s", target, resp.Status)
	case err != nil:
		res.Error = fmt.Sprintf("sample: downstream %s: %v", target, err)
	}
	return res
}

// propagate returns the request headers copied onto downstream calls: the
// tracing ids and end-user, as Istio's Bookinfo does.
func propagate(in http.Header) http.Header {
	keys := [...]string{
		"X-Request-Id",
		"Traceparent",
		"Tracestate",
		"X-B3-Traceid",
		"X-B3-Spanid",
		"X-B3-Parentspanid",
		"X-B3-Sampled",
		"X-B3-Flags",
		"B3",
		"X-Ot-Span-Context",
		"End-User",
	}
	out := make(http.Header, len(keys))
	for _, k := range keys {
		if vs := in.Values(k); len(vs) > 0 {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// defaultClient returns a client whose proxy comes from the environment as
// it is now (HTTP_PROXY, NO_PROXY, ...), unlike http.ProxyFromEnvironment,
// which reads it once per process. Run closes its idle connections.
func defaultClient() (*http.Client, *http.Transport) {
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	return &http.Client{Transport: tr}, tr
}
