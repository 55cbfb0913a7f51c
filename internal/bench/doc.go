package bench

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// The generated part of docs/performance.md lies between these markers.
const (
	docBegin = "<!-- bench:begin"
	docEnd   = "<!-- bench:end -->"
)

// updateDoc replaces the generated part of a Markdown file with md.
func updateDoc(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: doc: %w", err)
	}
	out, err := replaceGenerated(string(b), md)
	if err != nil {
		return fmt.Errorf("bench: doc %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return fmt.Errorf("bench: doc: %w", err)
	}
	return nil
}

// replaceGenerated returns doc with the lines between the begin marker's
// line and the end marker replaced by content.
func replaceGenerated(doc, content string) (string, error) {
	i := strings.Index(doc, docBegin)
	if i < 0 {
		return "", errors.New("bench: no " + docBegin + " marker")
	}
	nl := strings.IndexByte(doc[i:], '\n')
	if nl < 0 {
		return "", errors.New("bench: nothing after the begin marker")
	}
	start := i + nl + 1
	end := strings.Index(doc[start:], docEnd)
	if end < 0 {
		return "", errors.New("bench: no " + docEnd + " marker after the begin marker")
	}
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return doc[:start] + content + doc[start+end:], nil
}
