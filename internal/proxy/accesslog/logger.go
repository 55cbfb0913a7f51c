package accesslog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/halyard-mesh/halyard/internal/proxy/hcm"
)

// Logger writes one access log: a text format or a JSON object of
// formats, to one sink.
type Logger struct {
	sink *sink
	text *Format
	keys []string // JSON: sorted keys
	vals []*Format
}

var _ hcm.AccessLogger = (*Logger)(nil)

// Log writes the entry of one request as one line.
func (l *Logger) Log(info *hcm.RequestInfo) {
	if l.sink == nil {
		return
	}
	bp := bufs.Get().(*[]byte)
	b := (*bp)[:0]
	if l.text != nil {
		b = l.text.Append(b, info)
	} else {
		b = l.appendJSON(b, info)
	}
	l.sink.write(b)
	*bp = b
	bufs.Put(bp)
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (l *Logger) appendJSON(b []byte, info *hcm.RequestInfo) []byte {
	b = append(b, '{')
	for i, k := range l.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		if v, ok := l.vals[i].value(info); ok {
			b = appendJSONString(b, v)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}', '\n')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// Config is one file access log as compiled from xDS.
type Config struct {
	Path string
	// Text is the format string; JSON, when set, maps keys to format
	// strings instead. Neither: DefaultFormat.
	Text string
	JSON map[string]string
}

// Sinks opens and shares the files access logs write to; a file stays
// open for the proxy's life. It is safe for concurrent use.
type Sinks struct {
	mu     sync.Mutex
	byPath map[string]*sink
	stdout io.Writer
}

// NewSinks returns a set of sinks whose /dev/stdout is stdout.
func NewSinks(stdout io.Writer) *Sinks {
	return &Sinks{byPath: map[string]*sink{}, stdout: stdout}
}

type sink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *sink) write(b []byte) {
	s.mu.Lock()
	_, _ = s.w.Write(b)
	s.mu.Unlock()
}

// Close closes the files opened.
func (s *Sinks) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, sk := range s.byPath {
		if c, ok := sk.w.(io.Closer); ok && sk.w != s.stdout {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (s *Sinks) open(path string) (*sink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.byPath[path]; sk != nil {
		return sk, nil
	}
	var w io.Writer
	switch path {
	case "/dev/stdout":
		w = s.stdout
	case "/dev/stderr":
		w = os.Stderr
	default:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("accesslog: %w", err)
		}
		w = f
	}
	sk := &sink{w: w}
	s.byPath[path] = sk
	return sk, nil
}

// New builds a logger. With nil sinks the formats are checked but nothing
// is written.
func New(cfg Config, sinks *Sinks) (*Logger, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("accesslog: no path")
	}
	l := &Logger{}
	if cfg.JSON != nil {
		for k := range cfg.JSON {
			l.keys = append(l.keys, k)
		}
		slices.Sort(l.keys)
		for _, k := range l.keys {
			f, err := ParseFormat(cfg.JSON[k])
			if err != nil {
				return nil, fmt.Errorf("json_format %q: %w", k, err)
			}
			l.vals = append(l.vals, f)
		}
	} else {
		text := cfg.Text
		if text == "" {
			text = DefaultFormat
		}
		f, err := ParseFormat(text)
		if err != nil {
			return nil, err
		}
		l.text = f
	}
	if sinks != nil {
		sk, err := sinks.open(cfg.Path)
		if err != nil {
			return nil, err
		}
		l.sink = sk
	}
	return l, nil
}
