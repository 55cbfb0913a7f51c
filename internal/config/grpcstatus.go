package config

import "slices"

// GRPCStatusCode returns the code of a gRPC status name as Istio accepts
// it in a fault's abort.grpcStatus ("UNAVAILABLE" is 14).
func GRPCStatusCode(name string) (uint32, bool) {
	names := [...]string{
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	}
	i := slices.Index(names[:], name)
	return uint32(max(i, 0)), i >= 0
}
