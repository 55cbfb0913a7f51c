package sample_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/halyard-mesh/halyard/internal/sample"
)

func parseFlags(t *testing.T, args ...string) (sample.Options, error) {
	t.Helper()
	var o sample.Options
	fs := pflag.NewFlagSet("sample", pflag.ContinueOnError)
	fs.SetOutput(t.Output())
	sample.AddFlags(fs, &o)
	return o, fs.Parse(args)
}

func TestAddFlags(t *testing.T) {
	o, err := parseFlags(t, "--service", "reviews", "--version", "v2", "--instance", "r-1",
		"--port", "9081", "--call", "http://ratings:9080/", "--call", "http://details:9080/a,b")
	if err != nil {
		t.Fatal(err)
	}
	want := sample.Options{
		Service: "reviews", Version: "v2", Instance: "r-1", Addr: ":9081",
		Calls:           []string{"http://ratings:9080/", "http://details:9080/a,b"},
		ShutdownTimeout: sample.DefaultShutdownTimeout,
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options = %+v, want %+v", o, want)
	}
}

func TestAddFlagsDefaultsAndAddr(t *testing.T) {
	o, err := parseFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.Service != sample.DefaultService || o.Version != sample.DefaultVersion || o.Addr != sample.DefaultAddr || len(o.Calls) != 0 {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseFlags(t, "--port", "1", "--addr", "127.0.0.1:7000", "--shutdown-timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:7000" || o.ShutdownTimeout != time.Second {
		t.Errorf("--addr after --port: %+v", o)
	}
}

func TestAddFlagsBadPort(t *testing.T) {
	for _, p := range []string{"x", "-1", "65536"} {
		if _, err := parseFlags(t, "--port", p); err == nil {
			t.Errorf("--port %s accepted", p)
		}
	}
}
