package upstream

import (
	"net"
	"sync"
)

// maxOrigDstHosts bounds an ORIGINAL_DST cluster's host cache; beyond it,
// hosts without requests in flight are dropped (Envoy cleans unused hosts
// up every cleanup_interval).
const maxOrigDstHosts = 1024

// origDstHosts is the Picker of an ORIGINAL_DST cluster: the host is the
// request's own destination. Hosts are cached by address so that their
// active counts work like other hosts'.
type origDstHosts struct {
	c     *Cluster
	mu    sync.RWMutex
	hosts map[string]*Host
}

func (o *origDstHosts) Pick(req *PickRequest) *Host {
	addr := originalDst(req)
	if addr == "" {
		return nil
	}
	o.mu.RLock()
	h := o.hosts[addr]
	o.mu.RUnlock()
	if h != nil {
		return h
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if h := o.hosts[addr]; h != nil {
		return h
	}
	if len(o.hosts) >= maxOrigDstHosts {
		for a, x := range o.hosts {
			if x.Active.Load() == 0 {
				delete(o.hosts, a)
			}
		}
	}
	h = &Host{Address: addr, Weight: 1, cluster: o.c, health: &hostHealth{}, peer: &hostPeer{}}
	o.hosts[addr] = h
	return h
}

// originalDst returns where an ORIGINAL_DST cluster connects for req.
func originalDst(req *PickRequest) string {
	if req == nil {
		return ""
	}
	if req.OriginalDst != "" {
		return req.OriginalDst
	}
	r := req.HTTP
	if r == nil || r.Host == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(r.Host); err == nil {
		return r.Host
	}
	port := "80"
	if r.TLS != nil {
		port = "443"
	}
	h := r.Host
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, port)
}
