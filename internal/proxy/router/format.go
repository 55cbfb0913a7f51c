package router

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FormatContext supplies the values of the Envoy %COMMAND% substitutions
// that header values may hold. Supported commands: %HOSTNAME%,
// %ENVIRONMENT(X)% (both resolved when the table is compiled),
// %DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%,
// %DOWNSTREAM_LOCAL_ADDRESS% (each also _WITHOUT_PORT),
// %UPSTREAM_REMOTE_ADDRESS% (and _WITHOUT_PORT), %UPSTREAM_HOST%,
// %UPSTREAM_CLUSTER%, %PROTOCOL%, %ROUTE_NAME%, %START_TIME%,
// %REQ(X?Y):N% and %RESP(X?Y):N%; "%%" is a literal "%".
type FormatContext struct {
	Request *http.Request
	// Response holds the response headers (for %RESP()%), if any.
	Response     http.Header
	UpstreamHost string
	Cluster      string
	Route        string
	Start        time.Time
	// Remote is the client's address as the HCM determined it (from
	// X-Forwarded-For or the peer); when invalid, the peer's.
	Remote netip.AddrPort
}

type command uint8

const (
	cmdLiteral command = iota
	cmdRemoteAddr
	cmdRemoteIP
	cmdDirectRemoteAddr
	cmdDirectRemoteIP
	cmdLocalAddr
	cmdLocalIP
	cmdUpstreamAddr
	cmdUpstreamIP
	cmdCluster
	cmdProtocol
	cmdRoute
	cmdStartTime
	cmdReq
	cmdResp
)

type formatPart struct {
	cmd    command
	text   string // the literal, or the header key (canonical; ":authority" etc. kept)
	alt    string // the alternative header of X?Y
	maxLen int    // :N truncation; 0 for none
}

// formatter is a parsed header value. A value without commands is a
// literal (parts == nil), kept as a one-element slice with cap 1 so that
// it can be assigned to a header map and appended to without aliasing.
type formatter struct {
	lit      string
	litSlice []string
	parts    []formatPart
}

var simpleCommands = map[string]command{
	"DOWNSTREAM_REMOTE_ADDRESS":                     cmdRemoteAddr,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":        cmdRemoteIP,
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS":              cmdDirectRemoteAddr,
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": cmdDirectRemoteIP,
	"DOWNSTREAM_LOCAL_ADDRESS":                      cmdLocalAddr,
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":         cmdLocalIP,
	"UPSTREAM_REMOTE_ADDRESS":                       cmdUpstreamAddr,
	"UPSTREAM_HOST":                                 cmdUpstreamAddr,
	"UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":          cmdUpstreamIP,
	"UPSTREAM_CLUSTER":                              cmdCluster,
	"PROTOCOL":                                      cmdProtocol,
	"ROUTE_NAME":                                    cmdRoute,
	"START_TIME":                                    cmdStartTime,
}

// hostname is resolved once, for %HOSTNAME%.
var hostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		return "-"
	}
	return h
})

func parseFormat(s string) (*formatter, error) {
	var parts []formatPart
	var lit strings.Builder
	dynamic := false
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		end := strings.IndexByte(s[i+1:], '%')
		if end < 0 {
			return nil, fmt.Errorf("unescaped %% at position %d of %q", i, s)
		}
		cmd := s[i+1 : i+1+end]
		i += end + 2
		p, static, err := parseCommand(cmd)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if static != nil {
			lit.WriteString(*static)
			continue
		}
		if lit.Len() > 0 {
			parts = append(parts, formatPart{cmd: cmdLiteral, text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, p)
		dynamic = true
	}
	if !dynamic {
		v := lit.String()
		return &formatter{lit: v, litSlice: []string{v}[:1:1]}, nil
	}
	if lit.Len() > 0 {
		parts = append(parts, formatPart{cmd: cmdLiteral, text: lit.String()})
	}
	return &formatter{parts: parts}, nil
}

// parseCommand parses the inside of %...%. A command known when compiling
// (HOSTNAME, ENVIRONMENT) comes back as static text.
func parseCommand(cmd string) (formatPart, *string, error) {
	if c, ok := simpleCommands[cmd]; ok {
		return formatPart{cmd: c}, nil, nil
	}
	if cmd == "HOSTNAME" {
		h := hostname()
		return formatPart{}, &h, nil
	}
	name, arg, maxLen, err := commandArg(cmd)
	if err != nil {
		return formatPart{}, nil, err
	}
	switch name {
	case "ENVIRONMENT":
		v := os.Getenv(arg)
		if v == "" {
			v = "-"
		}
		if maxLen > 0 && len(v) > maxLen {
			v = v[:maxLen]
		}
		return formatPart{}, &v, nil
	case "REQ", "RESP":
		p := formatPart{cmd: cmdReq, maxLen: maxLen}
		if name == "RESP" {
			p.cmd = cmdResp
		}
		main, alt, _ := strings.Cut(arg, "?")
		p.text, p.alt = headerKey(main), headerKey(alt)
		if p.text == "" {
			return p, nil, fmt.Errorf("%%%s%%: empty header name", cmd)
		}
		return p, nil, nil
	}
	return formatPart{}, nil, fmt.Errorf("unsupported command %%%s%%", cmd)
}

// commandArg splits NAME(ARG):N.
func commandArg(cmd string) (name, arg string, maxLen int, err error) {
	open := strings.IndexByte(cmd, '(')
	closing := strings.LastIndexByte(cmd, ')')
	if open < 0 || closing < open {
		return "", "", 0, fmt.Errorf("unsupported command %%%s%%", cmd)
	}
	name, arg = cmd[:open], cmd[open+1:closing]
	if rest := cmd[closing+1:]; rest != "" {
		n, ok := strings.CutPrefix(rest, ":")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v <= 0 {
			return "", "", 0, fmt.Errorf("bad length in %%%s%%", cmd)
		}
		maxLen = v
	}
	return name, arg, maxLen, nil
}

func headerKey(name string) string {
	if name == "" || strings.HasPrefix(name, ":") {
		return strings.ToLower(name)
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

func (f *formatter) format(fc *FormatContext) string {
	if f.parts == nil {
		return f.lit
	}
	if len(f.parts) == 1 {
		return f.parts[0].value(fc)
	}
	var b strings.Builder
	for i := range f.parts {
		b.WriteString(f.parts[i].value(fc))
	}
	return b.String()
}

func (p *formatPart) value(fc *FormatContext) string {
	if p.cmd == cmdLiteral {
		return p.text
	}
	if fc == nil {
		return ""
	}
	var v string
	r := fc.Request
	switch p.cmd {
	case cmdRemoteAddr, cmdRemoteIP:
		switch {
		case fc.Remote.IsValid() && p.cmd == cmdRemoteAddr:
			v = fc.Remote.String()
		case fc.Remote.IsValid():
			v = fc.Remote.Addr().String()
		case r != nil && p.cmd == cmdRemoteAddr:
			v = r.RemoteAddr
		case r != nil:
			v = hostOnly(r.RemoteAddr)
		}
	case cmdDirectRemoteAddr:
		if r != nil {
			v = r.RemoteAddr
		}
	case cmdDirectRemoteIP:
		if r != nil {
			v = hostOnly(r.RemoteAddr)
		}
	case cmdLocalAddr, cmdLocalIP:
		if r != nil {
			if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				v = a.String()
				if p.cmd == cmdLocalIP {
					v = hostOnly(v)
				}
			}
		}
	case cmdUpstreamAddr:
		v = fc.UpstreamHost
	case cmdUpstreamIP:
		v = hostOnly(fc.UpstreamHost)
	case cmdCluster:
		v = fc.Cluster
	case cmdProtocol:
		if r != nil {
			v = r.Proto
		}
	case cmdRoute:
		v = fc.Route
	case cmdStartTime:
		if !fc.Start.IsZero() {
			v = fc.Start.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	case cmdReq:
		if r != nil {
			v = requestHeader(r, p.text)
			if v == "" && p.alt != "" {
				v = requestHeader(r, p.alt)
			}
		}
	case cmdResp:
		v = fc.Response.Get(p.text)
		if v == "" && p.alt != "" {
			v = fc.Response.Get(p.alt)
		}
	}
	if p.maxLen > 0 && len(v) > p.maxLen {
		v = v[:p.maxLen]
	}
	return v
}

func requestHeader(r *http.Request, key string) string {
	switch key {
	case ":authority":
		return r.Host
	case ":path":
		return requestPath(r)
	case ":method":
		return r.Method
	case ":scheme":
		if r.TLS != nil {
			return "https"
		}
		return "http"
	}
	if vs := r.Header[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
