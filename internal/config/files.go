package config

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// file is one configuration file read into memory.
type file struct {
	name string
	data []byte
}

// readFiles expands paths (files, or directories searched recursively for
// *.yaml and *.yml) and reads every file. Each path's files are sorted; a
// file named twice is read once.
func readFiles(paths []string) ([]file, []Diagnostic) {
	var files []file
	var diags []Diagnostic
	seen := map[string]bool{}
	for _, p := range paths {
		names, err := expandPath(p)
		if err != nil {
			diags = append(diags, Diagnostic{Severity: Error, Source: Source{File: p}, Message: err.Error()})
			continue
		}
		if len(names) == 0 {
			diags = append(diags, Diagnostic{Severity: Warning, Source: Source{File: p}, Message: "no *.yaml or *.yml file in this directory"})
		}
		for _, name := range names {
			if seen[filepath.Clean(name)] {
				continue
			}
			seen[filepath.Clean(name)] = true
			data, err := os.ReadFile(name)
			if err != nil {
				diags = append(diags, Diagnostic{Severity: Error, Source: Source{File: name}, Message: fmt.Errorf("read: %w", err).Error()})
				continue
			}
			files = append(files, file{name: name, data: data})
		}
	}
	return files, diags
}

// expandPath returns p itself when it is a file, or the YAML files below it
// when it is a directory.
func expandPath(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var names []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := path != p && strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && hidden:
			return filepath.SkipDir
		case d.IsDir() || hidden:
			return nil
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("config directory: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// hashFiles hashes the names and contents of a file set, and the
// diagnostics met while reading it (a file that cannot be read is part of
// the state too).
func hashFiles(files []file, diags []Diagnostic) [sha256.Size]byte {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, f := range files {
		put(f.name)
		put(string(f.data))
	}
	for _, d := range diags {
		put(d.String())
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
