package listener

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// portFilter refuses connections whose destination port is deny, and
// records what it saw.
type portFilter struct {
	deny uint16
	mu   sync.Mutex
	seen []ConnInfo
}

func (f *portFilter) OnConnection(c *ConnInfo) (bool, hcm.Flags, string) {
	f.mu.Lock()
	f.seen = append(f.seen, *c)
	f.mu.Unlock()
	if c.Dest.Port() == f.deny {
		return false, hcm.RBACAccessDenied, "rbac_access_denied_matched_policy[p]"
	}
	return true, 0, ""
}

// flagLog records the response flags of the connections logged.
type flagLog struct {
	mu    sync.Mutex
	flags []string
}

func (l *flagLog) Log(i *hcm.RequestInfo) {
	l.mu.Lock()
	l.flags = append(l.flags, i.Flags.String()+" "+i.Details)
	l.mu.Unlock()
}

func (l *flagLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.flags...)
}

func (f *portFilter) last() ConnInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

// TestConnFilters: a tcp_proxy's network filters see a bound listener's
// connections (peer and local address) and CONNECT tunnels, before any
// upstream connection; a refusal closes the connection with its flag.
func TestConnFilters(t *testing.T) {
	up := tagServer(t, "up")
	open := &portFilter{deny: 1}
	log := &flagLog{}
	w := newTCPWorld(t, map[string][]string{"up": {up}, "PassthroughCluster": nil}, nil,
		Config{Name: "inbound|3306", Address: "127.0.0.1:0", BindToPort: true, Inbound: true,
			TCP: &TCPProxy{Cluster: "up", Filters: []ConnFilter{open}}},
		hidden(5432, &TCPProxy{Cluster: "up", Filters: []ConnFilter{&portFilter{deny: 5432}}, AccessLogs: []hcm.AccessLogger{log}}),
	)
	addr := w.m.Addr("inbound|3306").String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 3)
	if _, err := c.Read(buf); err != nil || string(buf) != "up\n" {
		t.Fatalf("allowed connection read %q, %v", buf, err)
	}
	got := open.last()
	if got.Dest.String() != addr || got.Source.String() != c.LocalAddr().String() || got.Listener != "inbound|3306" {
		t.Errorf("filter saw %+v, want destination %s and source %s", got, addr, c.LocalAddr())
	}

	tc, br, code := w.connect(t, "db:5432")
	if code != 200 {
		t.Fatalf("CONNECT db:5432: %d", code)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := br.ReadString('\n'); err == nil {
		t.Fatalf("a denied tunnel read %q", line)
	}
	deadline := time.Now().Add(5 * time.Second)
	want := "RBAC rbac_access_denied_matched_policy[p]"
	for got := log.all(); len(got) != 1 || got[0] != want; got = log.all() {
		if time.Now().After(deadline) {
			t.Fatalf("access log %q, want [%q]", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
