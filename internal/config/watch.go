package config

import (
	"context"
	"crypto/sha256"
	"time"
)

// Watch loads paths, calls onChange with the result, then polls the files
// and calls onChange again each time their content changes: a file edited,
// added, removed or renamed, including editors that save by writing a new
// file and renaming it over the old one.
//
// Each poll reads the file set and hashes its names and contents. A new hash
// is reported once it has been seen on two polls in a row, so a save caught
// half-written is not reported; polls run four times per interval, so a
// change is reported within interval (plus the time to read and load the
// files). onChange receives a snapshot built from exactly the bytes that were
// hashed, or nil with the errors; it is called from Watch's goroutine, never
// concurrently.
//
// Watch blocks until ctx is done and starts no goroutine. A non-positive
// interval means 200ms.
func Watch(ctx context.Context, paths []string, interval time.Duration, onChange func(*Snapshot, []Diagnostic)) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	files, diags := readFiles(paths)
	reported := hashFiles(files, diags)
	onChange(build(files, diags))

	tick := time.NewTicker(max(interval/4, time.Millisecond))
	defer tick.Stop()
	var pending *[sha256.Size]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		files, diags := readFiles(paths)
		sum := hashFiles(files, diags)
		switch {
		case sum == reported:
			pending = nil
		case pending == nil || *pending != sum:
			pending = &sum
		default:
			reported, pending = sum, nil
			if ctx.Err() != nil {
				return
			}
			onChange(build(files, diags))
		}
	}
}
