package identity

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer accepts mutual-TLS connections and, per connection, reports
// the client's SPIFFE ID (or the handshake error) and echoes lines.
func echoServer(t *testing.T, conf *tls.Config) (addr string, peers <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveEcho(c.(*tls.Conn), ch)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

func serveEcho(c *tls.Conn, peers chan<- string) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		peers <- "error: " + err.Error()
		return
	}
	id, err := PeerIdentity(c.ConnectionState())
	if err != nil {
		id = "error: " + err.Error()
	}
	peers <- id
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

func dial(t *testing.T, addr string, conf *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c *tls.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != msg+"\n" {
		t.Fatalf("echo %q: got %q, %v", msg, got, err)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, time.Hour)
	server := managerFrom(t, idReviews, ca, ca.bundle())
	client := managerFrom(t, idProductpage, ca, ca.bundle())
	addr, peers := echoServer(t, server.ServerTLSConfig())

	c := dial(t, addr, client.ClientTLSConfig([]string{idReviews}))
	echo(t, c, "hello")
	if got := <-peers; got != idProductpage {
		t.Errorf("server sees client as %q, want %q", got, idProductpage)
	}
	if got, err := PeerIdentity(c.ConnectionState()); err != nil || got != idReviews {
		t.Errorf("client sees server as %q (%v), want %q", got, err, idReviews)
	}

	t.Run("unexpected server identity", func(t *testing.T) {
		_, err := tls.Dial("tcp", addr, client.ClientTLSConfig([]string{"spiffe://cluster.local/ns/default/sa/ratings"}))
		if err == nil || !strings.Contains(err.Error(), "peer is "+idReviews+", want one of") {
			t.Fatalf("got %v", err)
		}
		<-peers
	})
	t.Run("client of another CA refused", func(t *testing.T) {
		other := newTestCA(t, time.Hour)
		stranger := managerFrom(t, idProductpage, other, ca.bundle(other)) // trusts ours, but ours does not trust it
		c, err := tls.Dial("tcp", addr, stranger.ClientTLSConfig(nil))
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's refusal arrives after the client's handshake
			c.Close()
		}
		if err == nil {
			t.Fatal("a client certificate from another CA was accepted")
		}
		if got := <-peers; !strings.Contains(got, "certificate signed by unknown authority") {
			t.Errorf("server side: %q", got)
		}
	})
	t.Run("server of another CA refused", func(t *testing.T) {
		other := newTestCA(t, time.Hour)
		impostor := managerFrom(t, idReviews, other, other.bundle())
		addr2, peers2 := echoServer(t, impostor.ServerTLSConfig())
		_, err := tls.Dial("tcp", addr2, client.ClientTLSConfig([]string{idReviews}))
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("got %v", err)
		}
		<-peers2
	})
}

func TestRotationKeepsConnections(t *testing.T) {
	ca := newTestCA(t, time.Hour)
	server := managerFrom(t, idReviews, ca, ca.bundle())
	client := managerFrom(t, idProductpage, ca, ca.bundle())
	addr, peers := echoServer(t, server.ServerTLSConfig())

	old := dial(t, addr, client.ClientTLSConfig(nil))
	echo(t, old, "before")
	<-peers
	oldSerial := old.ConnectionState().PeerCertificates[0].SerialNumber
	if err := server.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, addr, client.ClientTLSConfig(nil))
	echo(t, fresh, "new")
	<-peers
	newSerial := fresh.ConnectionState().PeerCertificates[0].SerialNumber
	if newSerial.Cmp(oldSerial) == 0 {
		t.Fatalf("the served certificate did not change after rotation (serial %s)", newSerial)
	}
	echo(t, old, "after") // the connection made with the old certificate still works
	t.Logf("serial before rotation %s, after %s; old connection still echoes", oldSerial, newSerial)
}

// TestRootRotationTrustsBothRoots follows docs/security.md's root rotation
// over real TLS: while the bundle holds both roots, sidecars with
// certificates of the old CA and of the new one accept each other in
// both directions; once the old root leaves a sidecar's bundle, a peer
// still holding an old certificate is refused.
func TestRootRotationTrustsBothRoots(t *testing.T) {
	oldRoot, newRoot := newTestCA(t, time.Hour), newTestCA(t, time.Hour)
	moved := managerFrom(t, idReviews, newRoot, newRoot.bundle(oldRoot))      // already renewed by the new CA
	behind := managerFrom(t, idProductpage, oldRoot, oldRoot.bundle(newRoot)) // not yet
	for _, pair := range []struct {
		name           string
		server, client *Manager
	}{{"new serves old", moved, behind}, {"old serves new", behind, moved}} {
		addr, peers := echoServer(t, pair.server.ServerTLSConfig())
		c := dial(t, addr, pair.client.ClientTLSConfig([]string{pair.server.ID()}))
		echo(t, c, pair.name)
		if got := <-peers; got != pair.client.ID() {
			t.Errorf("%s: server sees %q, want %q", pair.name, got, pair.client.ID())
		}
	}

	// The last step: the old root is removed from the bundle.
	done := managerFrom(t, "spiffe://cluster.local/ns/default/sa/ratings", newRoot, newRoot.bundle())
	addr, peers := echoServer(t, done.ServerTLSConfig())
	c, err := tls.Dial("tcp", addr, behind.ClientTLSConfig(nil))
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1)) // TLS 1.3: the refusal arrives after the client's handshake
		c.Close()
	}
	if err == nil {
		t.Fatal("a certificate of the removed root was accepted")
	}
	if got := <-peers; !strings.Contains(got, "certificate signed by unknown authority") {
		t.Errorf("server side: %q", got)
	}
}

func TestALPNConstants(t *testing.T) {
	got := strings.Join([]string{ALPNPeerExchange, ALPNHTTP10, ALPNHTTP11, ALPNH2, ALPNIstio}, ",")
	if got != "istio-peer-exchange,istio-http/1.0,istio-http/1.1,istio-h2,istio" {
		t.Errorf("ALPN values %s", got)
	}
}
