package sample

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxReplyBytes bounds how much of a reply body is read and decoded.
const maxReplyBytes = maxSize + 1<<20

// Reply is the JSON body of every HTTP reply, and the decoded gRPC echo.
type Reply struct {
	Service   string      `json:"service"`
	Version   string      `json:"version"`
	Instance  string      `json:"instance"`
	Method    string      `json:"method,omitempty"`
	Proto     string      `json:"proto,omitempty"`
	Host      string      `json:"host,omitempty"`
	Path      string      `json:"path,omitempty"`
	Query     string      `json:"query,omitempty"`
	RequestID string      `json:"request_id,omitempty"`
	Message   string      `json:"message,omitempty"` // gRPC echo only
	Headers   http.Header `json:"headers,omitempty"`
	Calls     []Call      `json:"calls,omitempty"`
	Padding   string      `json:"padding,omitempty"` // filler for ?size=
}

// Call is the result of one downstream call.
type Call struct {
	URL      string `json:"url"`
	Status   int    `json:"status,omitempty"`
	Service  string `json:"service,omitempty"`
	Version  string `json:"version,omitempty"`
	Instance string `json:"instance,omitempty"`
	Error    string `json:"error,omitempty"`
	Calls    []Call `json:"calls,omitempty"` // the downstream's own calls
}

// Failed reports whether the call failed: a transport error, an error
// status (>= 400), or a reply that could not be decoded.
func (c Call) Failed() bool { return c.Error != "" }

// Fetch GETs url with header using client (http.DefaultClient if nil) and
// decodes the sample's JSON reply. It returns the reply and the HTTP status;
// a reply that is not JSON (for example a 400 message) is an error, but a
// non-2xx status with a JSON body (an injected ?status=) is not.
func Fetch(ctx context.Context, client *http.Client, url string, header http.Header) (*Reply, int, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("sample: fetch %s: %w", url, err)
	}
	for k, vs := range header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("sample: fetch %s: %w", url, err)
	}
	defer drainClose(resp.Body)
	r, err := decodeReply(resp)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("sample: fetch %s: %w", url, err)
	}
	return r, resp.StatusCode, nil
}

// decodeReply decodes a sample JSON reply from resp's body.
func decodeReply(resp *http.Response) (*Reply, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return nil, fmt.Errorf("read reply (status %d): %w", resp.StatusCode, err)
	}
	var r Reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode reply (status %d, %q): %w", resp.StatusCode, snippet(body), err)
	}
	return &r, nil
}

// drainClose reads a bounded remainder of body so the connection can be
// reused, then closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func snippet(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
