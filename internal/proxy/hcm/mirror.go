package hcm

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/router"
	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// maxMirrorDuration bounds a mirrored request on a route without a
// timeout: a safety net for a shadow that never answers. A mirror's body
// ends with the original request's anyway.
const maxMirrorDuration = 5 * time.Minute

// startMirrors sends a copy of the outgoing request (after rewrites and
// header operations) to each mirror cluster whose fraction draws it, with
// the authority suffixed "-shadow", fire and forget: each copy runs in its
// own goroutine, reads the body from the replay buffer (never ahead of
// the original request), and its response is discarded. Nothing here
// waits, so a slow or broken shadow does not delay the request. A request
// whose body is too large to buffer is not mirrored; past the buffer
// limit a streaming body's copy is reset.
func (s *Server) startMirrors(st *reqState, out *http.Request) {
	for _, m := range st.route.Mirrors() {
		if !m.Fraction.Hit() {
			continue
		}
		if st.hasBody && st.body == nil {
			s.opts.Log.Debug("hcm: request body too large to mirror", "cluster", m.Cluster)
			continue
		}
		c := s.opts.Clusters.Get(m.Cluster)
		if c == nil {
			continue
		}
		if s.mirrors.Add(1) > int64(s.opts.MaxMirrors) {
			s.mirrors.Add(-1)
			s.opts.Log.Debug("hcm: too many mirrored requests in flight", "cluster", m.Cluster)
			continue
		}
		h := c.Pick(&upstream.PickRequest{HTTP: st.r, Hash: st.pick.Hash, HasHash: st.pick.HasHash})
		if h == nil {
			s.mirrors.Add(-1)
			continue
		}
		release, ok := c.Admit()
		if !ok {
			s.mirrors.Add(-1)
			continue
		}
		mreq := &http.Request{
			Method: out.Method,
			URL: &url.URL{Scheme: "http", Host: h.Address, Path: out.URL.Path, RawPath: out.URL.RawPath,
				RawQuery: out.URL.RawQuery, ForceQuery: out.URL.ForceQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        out.Header.Clone(),
			Host:          out.Host,
			ContentLength: out.ContentLength,
		}
		if !m.KeepHost {
			mreq.Host = shadowHost(out.Host)
		}
		if _, ok := mreq.Header["User-Agent"]; !ok {
			mreq.Header["User-Agent"] = []string{""} // as the relay: no Go default
		}
		var body *bodyReader
		if st.body != nil {
			body = st.body.mirrorReader()
			mreq.Body = body
		}
		d := st.route.Action.Timeout
		if d <= 0 {
			d = maxMirrorDuration
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		mreq = mreq.WithContext(ctx)
		s.mirrorWG.Add(1)
		go s.runMirror(c, h, st.route, mreq, body, release, cancel)
	}
}

func (s *Server) runMirror(c *upstream.Cluster, h *upstream.Host, rt *router.Route, req *http.Request, body *bodyReader, release func(), cancel context.CancelFunc) {
	defer s.mirrorWG.Done()
	defer s.mirrors.Add(-1)
	defer release()
	defer cancel()
	h.Active.Add(1)
	defer h.Active.Add(-1)
	res, err := c.RoundTrip(req)
	var o upstream.Outcome
	if err != nil {
		o.ConnectFailure = upstream.IsDialError(err)
		o.Timeout = req.Context().Err() != nil
		o.Reset = !o.ConnectFailure && !o.Timeout
		s.opts.Log.Debug("hcm: mirrored request failed", "route", rt.Name, "cluster", c.Name(), "upstream", h.Address, "error", err)
	} else {
		o.Status = res.StatusCode
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if body != nil {
		body.Close()
	}
	h.Report(o)
}

// shadowHost appends "-shadow" to the host part of an authority, as Envoy
// does: "reviews:9080" becomes "reviews-shadow:9080".
func shadowHost(authority string) string {
	i := strings.LastIndexByte(authority, ':')
	switch {
	case i < 0:
	case strings.HasPrefix(authority, "["):
		if j := strings.LastIndexByte(authority, ']'); j >= 0 && j < i {
			return authority[:i] + "-shadow" + authority[i:]
		}
	case strings.Count(authority, ":") == 1:
		return authority[:i] + "-shadow" + authority[i:]
	}
	return authority + "-shadow"
}
