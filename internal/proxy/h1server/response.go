package h1server

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// holdBody is how much of a body without Content-Length is held back
// before the response goes out chunked; a body that ends within it goes
// out with its length, as net/http does.
const holdBody = 4 << 10

// response is the http.ResponseWriter of a connection's current request;
// one per connection, reset for every request.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	wroteHeader bool // the handler's status is set and the head recorded
	committed   bool // the head is written out
	noBody      bool // HEAD, 204, 304
	chunked     bool
	closeAfter  bool
	status      int
	cl          int64 // the declared Content-Length, -1 for none
	written     int64
	trailers    []string // announced trailer names
	head        []byte   // status line and header fields, without framing
	held        []byte   // body held while the framing is undecided
}

var _ http.Flusher = (*response)(nil)

func (w *response) reset(req *http.Request) {
	clear(w.header)
	*w = response{c: w.c, req: req, header: w.header, cl: -1, head: w.head[:0], held: w.held[:0], trailers: w.trailers[:0]}
}

// Header implements http.ResponseWriter. The map is the connection's:
// handlers must not keep it past their return.
func (w *response) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter: the head as it is now is
// recorded and written out with the first body bytes, a flush or the end.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1server: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: written at once, the final status follows.
		b := appendStatus(w.head[:0], code)
		b = appendFields(b, w.header, nil)
		b = append(b, "\r\n"...)
		_, _ = w.c.bw.Write(b)
		_ = w.c.bw.Flush()
		w.head = b[:0]
		return
	}
	w.wroteHeader = true
	w.status = code
	h := w.header
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if v := h["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64); err == nil && n >= 0 {
			w.cl = n
		}
	}
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = textproto.TrimString(k); k != "" {
				w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
			}
		}
	}
	if len(w.trailers) > 0 {
		w.cl = -1 // trailers need chunks
	}
	for _, v := range h["Connection"] {
		if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
			w.closeAfter = true
		}
	}
	b := appendStatus(w.head[:0], code)
	b = appendFields(b, h, skipFraming)
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
	}
	w.head = b
}

// skipFraming are the fields the server writes itself.
func skipFraming(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
		return true
	}
	return strings.HasPrefix(k, http.TrailerPrefix)
}

func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if t := http.StatusText(code); t != "" {
		b = append(b, t...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// appendFields appends the header's fields but those skip reports, with
// invalid names left out and line breaks in values made spaces (as
// http.Header.Write).
func appendFields(b []byte, h http.Header, skip func(string) bool) []byte {
	for k, vv := range h {
		if (skip != nil && skip(k)) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c == '\r' || c == '\n' {
					c = ' '
				}
				b = append(b, c)
			}
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// Write implements http.ResponseWriter.
func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if !w.committed {
		if w.cl < 0 && len(w.held)+len(p) <= holdBody {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

// WriteString is Write without a copy to []byte.
func (w *response) WriteString(s string) (int, error) {
	if !w.committed && w.wroteHeader && !w.noBody && w.cl < 0 && len(w.held)+len(s) <= holdBody {
		w.held = append(w.held, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

func (w *response) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.c.bw
	if w.chunked {
		var sz [16]byte
		_, _ = bw.Write(strconv.AppendInt(sz[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		n, err := bw.Write(p)
		w.written += int64(n)
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		return n, err
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		n, _ := bw.Write(p[:w.cl-w.written])
		w.written += int64(n)
		return n, http.ErrContentLength
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	return n, err
}

// commit writes the head with its framing: the declared length, the
// held body's length when the handler is done, otherwise chunks.
func (w *response) commit(done bool) {
	w.committed = true
	bw := w.c.bw
	_, _ = bw.Write(w.head)
	switch {
	case w.noBody:
		if w.cl >= 0 && w.status != http.StatusNoContent {
			writeLength(bw, w.cl)
		}
	case w.cl >= 0:
		writeLength(bw, w.cl)
	case done && len(w.trailers) == 0 && !hasTrailerPrefix(w.header):
		w.cl = int64(len(w.held))
		writeLength(bw, w.cl)
	default:
		w.chunked = true
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(w.trailers) > 0 {
			_, _ = bw.WriteString("Trailer: ")
			_, _ = bw.WriteString(strings.Join(w.trailers, ", "))
			_, _ = bw.WriteString("\r\n")
		}
	}
	if w.c.s.down.Load() {
		w.closeAfter = true
	}
	if w.closeAfter || w.req.Close {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if held := w.held; len(held) > 0 {
		w.held = held[:0]
		_, _ = w.writeBody(held)
	}
}

func writeLength(bw interface{ Write([]byte) (int, error) }, n int64) {
	var b [40]byte
	out := append(b[:0], "Content-Length: "...)
	out = strconv.AppendInt(out, n, 10)
	_, _ = bw.Write(append(out, "\r\n"...))
}

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// Flush implements http.Flusher: the head (chunked unless its length is
// declared) and the body so far go out.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	return w.c.bw.Flush()
}

// finish ends the response once the handler returned: the head if still
// held, the last chunk and trailers, or the connection's end when the body
// fell short of its declared length.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.chunked {
		bw := w.c.bw
		_, _ = bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				_, _ = bw.WriteString(k + ": " + lineBreaks.Replace(v) + "\r\n")
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) {
				for _, v := range vv {
					_, _ = bw.WriteString(name + ": " + lineBreaks.Replace(v) + "\r\n")
				}
			}
		}
		_, _ = bw.WriteString("\r\n")
		return
	}
	if !w.noBody && w.cl >= 0 && w.written < w.cl {
		w.closeAfter = true
	}
}
