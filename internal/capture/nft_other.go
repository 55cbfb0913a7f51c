//go:build !linux

package capture

import "errors"

// TableName is the nftables table (family ip) that holds the capture.
const TableName = "halyard"

var errNotLinux = errors.New("capture: transparent capture needs Linux (nftables)")

// Apply fails: nftables exist only on Linux.
func Apply(nsFD int, r Rules) error { return errNotLinux }

// Remove fails: nftables exist only on Linux.
func Remove(nsFD int) error { return errNotLinux }

// Installed fails: nftables exist only on Linux.
func Installed(nsFD int) (bool, error) { return false, errNotLinux }
