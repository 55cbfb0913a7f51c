package upstream

// Admit asks the cluster's circuit breakers (max_connections,
// max_pending_requests, max_requests) for a slot for one request. When ok is
// false the request overflows and is answered 503 with flag UO at once;
// otherwise release must be called when the request ends.
func (c *Cluster) Admit() (release func(), ok bool) { return noRelease, true }

// AdmitRetry asks the max_retries circuit breaker for one retry; when ok is
// false the retry is not attempted (flag URX on the final response).
func (c *Cluster) AdmitRetry() (release func(), ok bool) { return noRelease, true }

func noRelease() {}

// Outcome is the result of one attempt against a host, as outlier
// detection counts it.
type Outcome struct {
	Status         int  // the upstream's HTTP status; 0 when none came back
	ConnectFailure bool // the connection could not be made
	Timeout        bool // the attempt timed out
	Reset          bool // the connection broke before a response
}

// Report records one attempt's outcome for the host's cluster's outlier
// detection.
func (h *Host) Report(o Outcome) {}
