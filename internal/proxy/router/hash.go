package router

import (
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

type hashPolicy struct {
	kind     HashKind
	key      string // canonical header key, cookie or query parameter name
	rr       *regexRewrite
	issue    bool   // a cookie policy with a TTL: set the cookie when missing
	cookieAt string // `; Max-Age=N; Path=P; HttpOnly`, after `name="value"`
	terminal bool
}

func compileHashPolicies(ps []HashPolicy) ([]hashPolicy, error) {
	out := make([]hashPolicy, 0, len(ps))
	for _, p := range ps {
		hp := hashPolicy{kind: p.Kind, key: p.Name, terminal: p.Terminal}
		switch p.Kind {
		case HashHeader:
			if p.Name == "" {
				return nil, fmt.Errorf("hash_policy: header without a name")
			}
			hp.key = textproto.CanonicalMIMEHeaderKey(p.Name)
			if strings.HasPrefix(p.Name, ":") {
				hp.key = strings.ToLower(p.Name)
			}
			rr, err := compileRegexRewrite(p.RegexRewrite)
			if err != nil {
				return nil, fmt.Errorf("hash_policy: %w", err)
			}
			hp.rr = rr
		case HashCookie:
			if p.Name == "" {
				return nil, fmt.Errorf("hash_policy: cookie without a name")
			}
			if p.HasTTL {
				hp.issue = true
				var b strings.Builder
				b.WriteByte('"')
				if p.CookieTTL > 0 {
					b.WriteString("; Max-Age=")
					b.WriteString(strconv.FormatInt(int64(p.CookieTTL.Seconds()), 10))
				}
				if p.CookiePath != "" {
					b.WriteString("; Path=")
					b.WriteString(p.CookiePath)
				}
				b.WriteString("; HttpOnly")
				hp.cookieAt = b.String()
			}
		case HashQueryParameter:
			if p.Name == "" {
				return nil, fmt.Errorf("hash_policy: query_parameter without a name")
			}
		case HashSourceIP:
		default:
			return nil, fmt.Errorf("hash_policy: unknown kind %d", p.Kind)
		}
		out = append(out, hp)
	}
	return out, nil
}

// HasHashPolicy reports whether the route has a hash_policy.
func (rt *Route) HasHashPolicy() bool { return len(rt.hash) > 0 }

// Hash evaluates the route's hash_policy for r as Envoy's HashPolicyImpl:
// each policy that yields a value is mixed into the hash (the previous
// hash rotated left by one, XORed with the new one); a terminal policy
// that yielded one ends the evaluation. ok is false when no policy
// yielded a value. When a cookie policy with a TTL finds no cookie, the
// proxy makes one up from the connection's addresses (as Envoy does) and
// setCookie is the Set-Cookie value to add to the response.
func (rt *Route) Hash(r *http.Request) (hash uint64, ok bool, setCookie string) {
	for i := range rt.hash {
		p := &rt.hash[i]
		h, found := uint64(0), false
		switch p.kind {
		case HashHeader:
			h, found = hashHeader(r, p)
		case HashCookie:
			if v := cookieValue(r.Header["Cookie"], p.key); v != "" {
				h, found = HashString(v), true
			} else if p.issue {
				value := connectionCookie(r)
				setCookie = p.key + `="` + value + p.cookieAt
				h, found = HashString(value), true
			}
		case HashSourceIP:
			if ip := hostOnly(r.RemoteAddr); ip != "" {
				h, found = HashString(ip), true
			}
		case HashQueryParameter:
			if v, present := queryValue(r.URL.RawQuery, p.key); present {
				h, found = HashString(v), true
			}
		}
		if found {
			if ok {
				hash = (hash<<1 | hash>>63) ^ h
			} else {
				hash = h
			}
			ok = true
			if p.terminal {
				break
			}
		}
	}
	return hash, ok, setCookie
}

func hashHeader(r *http.Request, p *hashPolicy) (uint64, bool) {
	if strings.HasPrefix(p.key, ":") {
		v := requestHeader(r, p.key)
		if v == "" {
			return 0, false
		}
		if p.rr != nil {
			v = p.rr.apply(v)
		}
		return HashString(v), true
	}
	vs := r.Header[p.key]
	if len(vs) == 0 {
		return 0, false
	}
	h := uint64(fnvOffset)
	for _, v := range vs {
		if p.rr != nil {
			v = p.rr.apply(v)
		}
		h = fnvAdd(h, v)
	}
	return mix(h), true
}

// cookieValue finds a cookie's value in Cookie headers without allocating;
// surrounding double quotes are removed, as Envoy's parseCookieValue does.
func cookieValue(headers []string, name string) string {
	for _, line := range headers {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// connectionCookie is the value of an issued hash cookie: a hash of the
// connection's remote and local addresses, in hex, so that requests racing
// on one connection get the same cookie.
func connectionCookie(r *http.Request) string {
	local := ""
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a.String()
	}
	return fmt.Sprintf("%016x", HashString(r.RemoteAddr+local))
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is the splitmix64 finalizer, spreading FNV-1a's bits.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// HashString is the proxy's hash of a string for consistent hashing:
// deterministic across processes (FNV-1a, then a 64-bit finalizer), so
// that every sidecar maps a key to the same point of a hash ring.
func HashString(s string) uint64 { return mix(fnvAdd(fnvOffset, s)) }
