// Package sample is the sample application of the Halyard demo and tests.
//
// One process plays any service of the small Bookinfo (productpage, reviews
// v1/v2/v3, ratings, details) and the gRPC echo used in tests. A single port
// serves HTTP/1.1, h2c (prior knowledge) and gRPC.
package sample

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Defaults applied by Run to empty Options fields.
const (
	DefaultService         = "sample"
	DefaultVersion         = "v1"
	DefaultAddr            = ":8080"
	DefaultShutdownTimeout = 5 * time.Second
)

// Options configures Run.
type Options struct {
	Service, Version, Instance string // Instance defaults to hostname-pid

	// Addr is the listen address, e.g. "127.0.0.1:8080" or ":8080".
	Addr string

	// Calls are the downstream URLs called, in order, on every request
	// (except /healthz).
	Calls []string

	// Logger defaults to a logger that discards everything.
	Logger *slog.Logger

	// Client makes the downstream calls. Nil means a client whose proxy is
	// taken from the environment (HTTP_PROXY, NO_PROXY) when Run starts;
	// the mesh's explicit capture relies on it.
	Client *http.Client

	// Ready, if set, is called once the listener is bound.
	Ready func(net.Addr)

	// ShutdownTimeout bounds the graceful shutdown once the context is
	// done; in-flight requests are then cancelled. Default 5s.
	ShutdownTimeout time.Duration

	// Delay and Status apply to every request whose query does not set
	// delay= or status= (Status in the same form: "503" or "503:50"), so
	// one instance of a service can be made slow or failing.
	Delay  time.Duration
	Status string

	defaults params // parsed from Delay and Status by Run
}

// withDefaults returns a copy of o with empty fields filled in.
func (o Options) withDefaults() Options {
	if o.Service == "" {
		o.Service = DefaultService
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Instance == "" {
		o.Instance = defaultInstance()
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	o.Calls = append([]string(nil), o.Calls...)
	return o
}

func defaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// AddFlags registers --service, --version, --instance, --port, --addr and
// --call (repeatable) on fs, writing into o. The current values of o are the
// defaults; empty Service, Version and Addr get the package defaults.
// --port N listens on all interfaces (":N"); --addr sets the full listen
// address. When both are given, the last one on the command line wins.
func AddFlags(fs *pflag.FlagSet, o *Options) {
	if o.Service == "" {
		o.Service = DefaultService
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	fs.StringVar(&o.Service, "service", o.Service, "service name to play (productpage, reviews, ratings, details, echo, ...)")
	fs.StringVar(&o.Version, "version", o.Version, "version label of this instance (v1, v2, ...)")
	fs.StringVar(&o.Instance, "instance", o.Instance, "instance name (default hostname-pid)")
	fs.Var(&portValue{addr: &o.Addr}, "port", "port to listen on, on all interfaces (sets --addr to :PORT)")
	fs.StringVar(&o.Addr, "addr", o.Addr, "listen address, e.g. 127.0.0.1:8080 or :8080")
	fs.StringArrayVar(&o.Calls, "call", o.Calls, "downstream URL called on every request (repeatable, called in order)")
	fs.DurationVar(&o.Delay, "delay", 0, "delay every request (unless it sets ?delay=)")
	fs.StringVar(&o.Status, "status", "", "answer every request with this status, as ?status= (503 or 503:50), unless it sets ?status=")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "grace period for in-flight requests on shutdown")
}

// portValue is a pflag.Value that writes ":PORT" into an address.
type portValue struct{ addr *string }

func (p *portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return fmt.Errorf("sample: bad port %q: %w", s, err)
	}
	*p.addr = net.JoinHostPort("", strconv.FormatUint(n, 10))
	return nil
}

func (p *portValue) String() string {
	if p.addr == nil {
		return ""
	}
	_, port, err := net.SplitHostPort(*p.addr)
	if err != nil {
		return ""
	}
	return port
}

func (p *portValue) Type() string { return "int" }
