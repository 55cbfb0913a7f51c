package hcm

import (
	"errors"
	"io"
	"sync"
)

// replayBody tees a downstream request body into a bounded buffer while the
// current attempt streams it, so that a retry or a mirror can read it
// again, as Envoy buffers a request for retries and shadows.
//
// Only the attempt readers pull from the downstream body (one read at a
// time); what they read is appended to the buffer. A retry's reader
// replays the buffer and then continues from the downstream. A mirror
// reader only ever reads the buffer, waiting for the attempts to fill it,
// so a slow mirror never holds the request back. Once more than the limit
// has been read, the buffer is incomplete: retries stop and mirror readers
// that need the missing part fail.
type replayBody struct {
	mu      sync.Mutex
	cond    sync.Cond
	src     io.Reader
	limit   int
	buf     []byte
	n       int64 // bytes read from src so far
	reading bool  // an attempt reader is in src.Read
	done    bool  // src returned an error (io.EOF at the end)
	err     error
	// overflow is set once buf no longer holds everything read: the body
	// was over the limit, or buffering stopped (no retry nor mirror left).
	overflow bool
	// keep is set while buffering is useful: retries are possible or
	// mirrors read.
	keep     bool
	mirrors  int  // mirror readers not finished
	finished bool // the request ended: src is not read any more
}

var (
	errAttemptAbandoned = errors.New("hcm: request body: attempt abandoned")
	errNotReplayable    = errors.New("hcm: request body: larger than the retry buffer")
	errBodyIncomplete   = errors.New("hcm: request body: the request ended before its body did")
)

func newReplayBody(src io.Reader, limit int) *replayBody {
	b := &replayBody{src: src, limit: limit, keep: true}
	b.cond.L = &b.mu
	return b
}

// replayable reports whether a new attempt can still get the whole body.
func (b *replayBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow
}

// stopRetries says no further attempt will replay the body; buffering goes
// on only for mirrors.
func (b *replayBody) stopRetries() {
	b.mu.Lock()
	b.keep = b.mirrors > 0
	b.mu.Unlock()
}

// finish marks the end of the request: mirror readers waiting for more data
// than was read get an error (or io.EOF when the body was complete).
func (b *replayBody) finish() {
	b.mu.Lock()
	b.finished = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// bodyReader reads a replayBody from the start. Attempt readers may pull
// from the downstream body; mirror readers only read what is buffered.
type bodyReader struct {
	b        *replayBody
	off      int64
	mirror   bool
	detached bool // guarded by b.mu
}

func (b *replayBody) attemptReader() *bodyReader { return &bodyReader{b: b} }

func (b *replayBody) mirrorReader() *bodyReader {
	b.mu.Lock()
	b.mirrors++
	b.mu.Unlock()
	return &bodyReader{b: b, mirror: true}
}

// detach makes the reader fail from now on: its attempt was abandoned (a
// transport may still be reading it from another goroutine).
func (r *bodyReader) detach() {
	r.b.mu.Lock()
	r.detached = true
	r.b.cond.Broadcast()
	r.b.mu.Unlock()
}

func (r *bodyReader) Read(p []byte) (int, error) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if r.detached {
			return 0, errAttemptAbandoned
		}
		// buf always holds the first len(buf) bytes of the body.
		if r.off < int64(len(b.buf)) {
			n := copy(p, b.buf[r.off:])
			r.off += int64(n)
			return n, nil
		}
		if r.off < b.n {
			// What this reader needs next is no longer buffered.
			return 0, errNotReplayable
		}
		if b.done {
			return 0, b.err
		}
		if r.mirror {
			if b.finished {
				return 0, errBodyIncomplete
			}
			b.cond.Wait()
			continue
		}
		if b.reading {
			b.cond.Wait()
			continue
		}
		if len(p) == 0 {
			return 0, nil
		}
		b.reading = true
		b.mu.Unlock()
		n, err := b.src.Read(p)
		b.mu.Lock()
		b.reading = false
		if n > 0 {
			if !b.overflow && b.keep && len(b.buf)+n <= b.limit {
				b.buf = append(b.buf, p[:n]...)
			} else if !b.overflow {
				b.overflow = true
				if b.mirrors == 0 {
					b.buf = nil
				}
			}
			b.n += int64(n)
		}
		if err != nil {
			b.done, b.err = true, err
		}
		b.cond.Broadcast()
		if r.detached {
			return 0, errAttemptAbandoned
		}
		r.off += int64(n)
		return n, err
	}
}

// Close ends a reader; a mirror reader stops holding the buffer.
func (r *bodyReader) Close() error {
	b := r.b
	b.mu.Lock()
	if r.mirror && !r.detached {
		b.mirrors--
		if b.mirrors == 0 && !b.keep {
			b.overflow = true
			b.buf = nil
		}
	}
	r.detached = true
	b.cond.Broadcast()
	b.mu.Unlock()
	return nil
}
