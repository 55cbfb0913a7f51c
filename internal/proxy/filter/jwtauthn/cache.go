package jwtauthn

import "sync"

// Envoy's jwt_cache_config defaults: up to 100 tokens of up to 4 KiB per
// provider.
const (
	cacheSize     = 100
	cacheMaxToken = 4 << 10
)

// tokenCache remembers the tokens whose issuer, audience and signature a
// provider verified, so that a client sending the same token again costs
// a map lookup and the time check instead of a signature verification
// (tens to hundreds of microseconds). Cached tokens are never modified.
// When full, an arbitrary entry makes room.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*token
}

func (c *tokenCache) get(raw string) *token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[raw]
}

func (c *tokenCache) put(raw string, t *token) {
	if len(raw) > cacheMaxToken {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*token, cacheSize)
	}
	if len(c.m) >= cacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[raw] = t
}
