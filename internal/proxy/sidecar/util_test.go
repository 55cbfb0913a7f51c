package sidecar_test

import "runtime"

func runtimeGosched() { runtime.Gosched() }
