package sample

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// identity names one sample instance.
type identity struct {
	service, version, instance string
}

// httpHandler answers plain HTTP requests (HTTP/1.1 and h2c).
type httpHandler struct {
	id       identity
	calls    *caller
	log      *slog.Logger
	defaults params // from --delay and --status
	counts   *requestCounts
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.setIdentity(w.Header())
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	}
	if r.URL.Path == countsPath {
		h.counts.serve(w)
		return
	}
	h.counts.add(r.Host)
	p, err := parseParams(r.URL.Query(), h.defaults)
	if err != nil {
		http.Error(w, "sample: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !sleep(r, p.delay) {
		return // the client went away
	}
	reply := h.reply(r)
	reply.Calls = h.calls.callAll(r.Context(), r.Header)
	status := replyStatus(p, reply.Calls)
	h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", status, "request_id", reply.RequestID)
	writeJSON(w, status, reply, p.size)
}

func (h *httpHandler) setIdentity(hdr http.Header) {
	hdr.Set("X-Sample-Service", h.id.service)
	hdr.Set("X-Sample-Version", h.id.version)
	hdr.Set("X-Sample-Instance", h.id.instance)
}

func (h *httpHandler) reply(r *http.Request) *Reply {
	return &Reply{
		Service:   h.id.service,
		Version:   h.id.version,
		Instance:  h.id.instance,
		Method:    r.Method,
		Proto:     r.Proto,
		Host:      r.Host,
		Path:      r.URL.Path,
		Query:     r.URL.RawQuery,
		RequestID: r.Header.Get("X-Request-Id"),
		Headers:   r.Header.Clone(),
	}
}

// sleep waits d unless the request is cancelled first; it reports whether
// the full delay elapsed.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// replyStatus is the injected ?status= if it hits, else 502 when ?strict=1
// and a downstream call failed, else 200.
func replyStatus(p params, calls []Call) int {
	if s := p.pickStatus(); s != 0 {
		return s
	}
	if p.strict {
		for _, c := range calls {
			if c.Failed() {
				return http.StatusBadGateway
			}
		}
	}
	return http.StatusOK
}

// writeJSON writes reply with status, padded to size bytes when the plain
// reply is shorter.
func writeJSON(w http.ResponseWriter, status int, reply *Reply, size int) {
	body, err := encodePadded(reply, size)
	if err != nil {
		http.Error(w, "sample: encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	if !bodyAllowed(status) {
		w.WriteHeader(status)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodePadded encodes reply as JSON followed by a newline. If that is
// shorter than size, it fills Padding (and, for the last few bytes, spaces)
// so the body is exactly size bytes.
func encodePadded(reply *Reply, size int) ([]byte, error) {
	body, err := encode(reply)
	if err != nil || len(body) >= size {
		return body, err
	}
	reply.Padding = "x"
	padded, err := encode(reply)
	if err != nil {
		return nil, err
	}
	if fill := size - len(padded); fill >= 0 {
		reply.Padding = string(bytes.Repeat([]byte{'x'}, 1+fill))
		return encode(reply)
	}
	reply.Padding = ""
	spaces := bytes.Repeat([]byte{' '}, size-len(body))
	return append(append(body[:len(body)-1], spaces...), '\n'), nil
}

func encode(reply *Reply) ([]byte, error) {
	b, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}
