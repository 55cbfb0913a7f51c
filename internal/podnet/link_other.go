//go:build !linux

package podnet

import "errors"

var errNotLinux = errors.New("podnet: pod network namespaces need Linux")

// Setup fails: network namespaces exist only on Linux.
func (n *Network) Setup() error { return errNotLinux }

// Close does nothing: nothing was created.
func (n *Network) Close() error { return nil }

// AddPod fails: network namespaces exist only on Linux.
func (n *Network) AddPod(key, namespace, name string) (*Pod, error) { return nil, errNotLinux }

// Remove does nothing: nothing was created.
func (p *Pod) Remove() error { return nil }

// InNetns fails: network namespaces exist only on Linux.
func InNetns(path string, fn func() error) error { return errNotLinux }

// Exec fails: network namespaces exist only on Linux.
func Exec(netnsPath string, etc map[string]string, argv, env []string) error { return errNotLinux }

func deleteNetns(path string) error               { return nil }
func deleteLinks(prefix string) ([]string, error) { return nil, nil }
func listLinks(prefix string) ([]string, error)   { return nil, nil }

func killNetnsProcesses(path string) ([]int, error) { return nil, nil }
