package upstream

import (
	"fmt"
	"testing"
)

func benchCluster(b *testing.B, policy Policy, n int) *Cluster {
	m := testManager()
	od := DefaultOutlier
	if err := m.UpdateClusters([]Config{{Name: "c", Type: EDS, EDSServiceName: "c", Policy: policy, Outlier: &od}}); err != nil {
		b.Fatal(err)
	}
	eps := make([]EndpointConfig, n)
	for i := range eps {
		eps[i] = EndpointConfig{Address: fmt.Sprintf("10.0.0.%d:8080", i), Weight: 1}
	}
	m.UpdateEndpoints(map[string][]EndpointConfig{"c": eps})
	b.Cleanup(m.Close)
	return m.Get("c")
}

// BenchmarkPick measures one pick per policy over 10 hosts, in parallel;
// the hashing policies get a request hash.
func BenchmarkPick(b *testing.B) {
	for _, policy := range []Policy{RoundRobin, Random, LeastRequest, RingHash, Maglev} {
		b.Run(policy.String(), func(b *testing.B) {
			c := benchCluster(b, policy, 10)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := &PickRequest{HasHash: true}
				for i := uint64(0); pb.Next(); i++ {
					req.Hash = i * 0x9e3779b97f4a7c15
					if c.Pick(req) == nil {
						b.Fatal("no host")
					}
				}
			})
		})
	}
}

func BenchmarkPickRoundRobin(b *testing.B) {
	c := benchCluster(b, RoundRobin, 3)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.Pick(nil) == nil {
				b.Fatal("no host")
			}
		}
	})
}

// BenchmarkPickAdmitReport is a request's whole upstream bookkeeping:
// admission, pick, active count, outcome report, release.
func BenchmarkPickAdmitReport(b *testing.B) {
	c := benchCluster(b, RoundRobin, 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, ok := c.Admit()
			if !ok {
				b.Fatal("overflow")
			}
			h := c.Pick(nil)
			h.Active.Add(1)
			h.Report(Outcome{Status: 200})
			h.Active.Add(-1)
			release()
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	for _, policy := range []Policy{RingHash, Maglev} {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("%v/%d", policy, n), func(b *testing.B) {
				hosts := hostsN(n)
				b.ReportAllocs()
				for b.Loop() {
					builders[policy](hosts, nil)
				}
			})
		}
	}
}
