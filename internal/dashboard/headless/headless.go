// Package headless drives headless Chromium for the UI's tests: it loads
// a page, lets its scripts run, and returns the DOM and a screenshot.
package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNoChromium means no Chromium binary was found on PATH.
var ErrNoChromium = errors.New("headless: chromium not found (Debian package chromium)")

// Binary returns the Chromium binary on PATH.
func Binary() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Page is what a load of a page produced.
type Page struct {
	DOM        string // the serialised DOM after the scripts ran
	Screenshot string // path of the PNG
}

// Load opens url in a fresh profile under dir, gives the page budgetMs of
// virtual time, and writes dir/name.png.
func Load(ctx context.Context, url, dir, name string, budgetMs int) (*Page, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	shot := filepath.Join(dir, name+".png")
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--window-size=1280,900", fmt.Sprintf("--virtual-time-budget=%d", budgetMs)}
	run := func(profile string, extra ...string) ([]byte, error) {
		args := append(append([]string{"--user-data-dir=" + filepath.Join(dir, profile)}, common...), extra...)
		cmd := exec.CommandContext(ctx, bin, append(args, url)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("headless: %s: %w\n%s", bin, err, stderr.String())
		}
		return stdout.Bytes(), nil
	}
	dom, err := run("profile-dom", "--dump-dom")
	if err != nil {
		return nil, err
	}
	if _, err := run("profile-shot", "--screenshot="+shot); err != nil {
		return nil, err
	}
	if _, err := os.Stat(shot); err != nil {
		return nil, fmt.Errorf("headless: no screenshot: %w", err)
	}
	return &Page{DOM: string(dom), Screenshot: shot}, nil
}
