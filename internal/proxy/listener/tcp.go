package listener

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/upstream"
)

// serveTCP accepts connections of a tcp_proxy listener.
func (b *boundListener) serveTCP() {
	var delay time.Duration
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (e.g. out of file descriptors): back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-b.m.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !b.track(c) {
			_ = c.Close()
			continue
		}
		b.m.wg.Go(func() {
			defer b.untrack(c)
			b.proxyTCP(c)
		})
	}
}

func (b *boundListener) track(c net.Conn) bool {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.draining {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *boundListener) untrack(c net.Conn) {
	_ = c.Close()
	b.connMu.Lock()
	delete(b.conns, c)
	b.connMu.Unlock()
}

func (b *boundListener) proxyTCP(down net.Conn) {
	cfg := b.cfg.Load()
	if cfg.TCP == nil {
		return
	}
	cl := b.m.opts.Clusters.Get(cfg.TCP.Cluster)
	if cl == nil {
		b.m.opts.Log.Debug("tcp proxy: cluster not found", "listener", b.name, "cluster", cfg.TCP.Cluster)
		return
	}
	ccfg := cl.Config()
	if ccfg.Type == upstream.OriginalDst {
		b.m.opts.Log.Debug("tcp proxy: ORIGINAL_DST needs transparent interception, which is not supported",
			"listener", b.name, "cluster", cfg.TCP.Cluster)
		return
	}
	h := cl.Pick(nil)
	if h == nil {
		b.m.opts.Log.Debug("tcp proxy: no healthy upstream", "listener", b.name, "cluster", cfg.TCP.Cluster)
		return
	}
	h.Active.Add(1)
	defer h.Active.Add(-1)
	d := net.Dialer{Timeout: ccfg.ConnectTimeout}
	up, err := d.DialContext(b.m.ctx, "tcp", h.Address)
	if err != nil {
		b.m.opts.Log.Debug("tcp proxy: connect failed", "listener", b.name, "upstream", h.Address, "error", err)
		return
	}
	defer up.Close()
	stop := context.AfterFunc(b.m.ctx, func() { _ = up.Close(); _ = down.Close() })
	defer stop()
	copyBoth(down, up)
}

// drainTCP stops accepting and waits for the connections until ctx is done,
// then closes them.
func (b *boundListener) drainTCP(ctx context.Context) {
	_ = b.ln.Close()
	b.connMu.Lock()
	b.draining = true
	b.connMu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b.connMu.Lock()
		n := len(b.conns)
		if n == 0 || ctx.Err() != nil {
			for c := range b.conns {
				_ = c.Close()
			}
			b.connMu.Unlock()
			return
		}
		b.connMu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}
