package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/halyard-mesh/halyard/internal/local"
	"github.com/halyard-mesh/halyard/internal/localmesh"
	"github.com/halyard-mesh/halyard/internal/podnet"
)

func newPortForwardCommand(g *globals) *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "port-forward SERVICE[:PORT] LOCALPORT",
		Short: "Forward a port on this host to a service of the running mesh",
		Long: `Listens on LOCALPORT (on --address) and sends every connection to SERVICE
(a name as a pod would write it: reviews, reviews.default, ...) on PORT
(LOCALPORT when not given), through the mesh's client sidecar, so that its
routing applies: HTTP/1.x requests get SERVICE:PORT as their Host (the
mesh routes HTTP by Host), anything else is forwarded as is. Ctrl-C stops it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := local.ReadState(g.stateDir)
			if err != nil {
				return err
			}
			target, localPort, err := forwardTarget(args[0], args[1])
			if err != nil {
				return err
			}
			pod, ok := st.Pod(localmesh.ExecClient.Namespace + "/" + localmesh.ExecClient.Name)
			if !ok {
				return errors.New("port-forward: the mesh has no client pod")
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(address, localPort))
			if err != nil {
				return fmt.Errorf("port-forward: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "forwarding %s -> %s\n", ln.Addr(), target)
			return forward(cmd.Context(), ln, target, func(ctx context.Context) (net.Conn, error) { return dialVia(ctx, pod, target) })
		},
	}
	cmd.Flags().StringVar(&address, "address", "127.0.0.1", "local address to listen on")
	return cmd
}

func forwardTarget(service, localPort string) (target, port string, err error) {
	if n, err := strconv.ParseUint(localPort, 10, 16); err != nil || n == 0 {
		return "", "", fmt.Errorf("port-forward: LOCALPORT %q is not a port", localPort)
	}
	host, p, cut := strings.Cut(service, ":")
	if !cut {
		p = localPort
	}
	if n, err := strconv.ParseUint(p, 10, 16); host == "" || err != nil || n == 0 {
		return "", "", fmt.Errorf("port-forward: %q: want SERVICE or SERVICE:PORT", service)
	}
	return net.JoinHostPort(host, p), localPort, nil
}

// forward serves ln until ctx is done: HTTP/1.x connections are served by
// a reverse proxy that sets the Host to target, others are piped to dial's
// connection.
func forward(ctx context.Context, ln net.Listener, target string, dial func(context.Context) (net.Conn, error)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	httpConns := &chanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	srv := &http.Server{Handler: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", target, target
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }},
	}}
	wg.Go(func() { _ = srv.Serve(httpConns) })
	stop := context.AfterFunc(ctx, func() { ln.Close(); srv.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("port-forward: %w", err)
		}
		wg.Go(func() {
			br := bufio.NewReader(c)
			if looksHTTP(br) {
				httpConns.push(&bufferedConn{Conn: c, r: br})
				return
			}
			pipe(ctx, &bufferedConn{Conn: c, r: br}, dial)
		})
	}
}

// pipe copies between c and a new connection from dial.
func pipe(ctx context.Context, c net.Conn, dial func(context.Context) (net.Conn, error)) {
	defer c.Close()
	up, err := dial(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "port-forward:", err)
		return
	}
	defer up.Close()
	halt := context.AfterFunc(ctx, func() { c.Close(); up.Close() })
	defer halt()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(up, c); closeWrite(up); close(done) }()
	_, _ = io.Copy(c, up)
	closeWrite(c)
	<-done
}

// looksHTTP tells an HTTP/1.x request line from other first bytes (it
// waits for the client's first bytes).
func looksHTTP(br *bufio.Reader) bool {
	p, _ := br.Peek(8)
	for _, m := range []string{"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH "} {
		if strings.HasPrefix(string(p), m) {
			return true
		}
	}
	return false
}

// bufferedConn reads what was peeked first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection when it can.
func (c *bufferedConn) CloseWrite() error {
	closeWrite(c.Conn)
	return nil
}

// chanListener is a net.Listener fed by push.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// dialVia connects to target as the pod's client: from inside its network
// namespace (transparent mode; the name is looked up in its hosts file), or
// with CONNECT through its sidecar (explicit mode).
func dialVia(ctx context.Context, pod *local.PodState, target string) (net.Conn, error) {
	var d net.Dialer
	d.Timeout = 10 * time.Second
	if pod.Netns != "" {
		host, port, _ := net.SplitHostPort(target)
		ip, err := lookupHosts(pod.HostsFile, host)
		if err != nil {
			return nil, err
		}
		var c net.Conn
		err = podnet.InNetns(pod.Netns, func() (err error) {
			c, err = d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
			return err
		})
		return c, err
	}
	c, err := d.DialContext(ctx, "tcp", pod.OutboundAddress)
	if err != nil {
		return nil, fmt.Errorf("port-forward: sidecar: %w", err)
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.Close()
		if err == nil {
			err = fmt.Errorf("sidecar answered %s", resp.Status)
		}
		return nil, fmt.Errorf("port-forward: CONNECT %s: %w", target, err)
	}
	return c, nil
}

// lookupHosts finds a name in a hosts file (an IP is returned as is).
func lookupHosts(file, name string) (string, error) {
	if net.ParseIP(name) != nil {
		return name, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("port-forward: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		for _, n := range f[min(1, len(f)):] {
			if n == name {
				return f[0], nil
			}
		}
	}
	return "", fmt.Errorf("port-forward: %q is not a service of the mesh", name)
}
