package dashboards

import (
	"context"
	"time"

	"github.com/halyard-mesh/halyard/internal/promtest"
)

// Reporter is the part of testing.TB that CheckQueries logs to.
type Reporter interface {
	Logf(format string, args ...any)
}

// CheckQueries runs every query against Prometheus until it returns data
// or the deadline passes, and returns those that never did. Queries that
// Prometheus rejects are logged.
func CheckQueries(ctx context.Context, r Reporter, prom *promtest.Server, queries []Query, wait time.Duration) []Query {
	deadline := time.Now().Add(wait)
	pending := queries
	for {
		var still []Query
		for _, q := range pending {
			res, err := prom.Query(ctx, q.Expr)
			if err != nil {
				r.Logf("query failed: %s / %s: %v", q.Dashboard, q.Panel, err)
				still = append(still, q)
				continue
			}
			if len(res) == 0 {
				still = append(still, q)
			}
		}
		if len(still) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return still
		}
		pending = still
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
