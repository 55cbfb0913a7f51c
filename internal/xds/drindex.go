package xds

import (
	"slices"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/halyard-mesh/halyard/internal/config"
)

// drIndex finds DestinationRules by namespace and host without scanning
// every rule for every service: exact hosts are in a map, and only wildcard
// hosts are matched one by one. It is built once per Input.
type drIndex struct {
	drs  []config.DestinationRule // sorted by namespace/name
	byNS map[string]*nsRules
}

type nsRules struct {
	exact map[string][]int // resolved host -> indexes into drs, in order
	wild  []int            // rules with a wildcard host, in order
	hosts map[int]string   // resolved host of every rule of the namespace
}

func newDRIndex(rules []config.DestinationRule, suffix string) *drIndex {
	drs := slices.Clone(rules)
	slices.SortStableFunc(drs, func(a, b config.DestinationRule) int { return compareMeta(a.Meta, b.Meta) })
	idx := &drIndex{drs: drs, byNS: map[string]*nsRules{}}
	for i := range drs {
		dr := &drs[i]
		if dr.Spec == nil {
			continue
		}
		nr := idx.byNS[dr.Namespace]
		if nr == nil {
			nr = &nsRules{exact: map[string][]int{}, hosts: map[int]string{}}
			idx.byNS[dr.Namespace] = nr
		}
		h := ResolveHost(dr.Spec.Host, dr.Namespace, suffix)
		nr.hosts[i] = h
		if isWildcard(h) {
			nr.wild = append(nr.wild, i)
		} else {
			nr.exact[h] = append(nr.exact[h], i)
		}
	}
	return idx
}

// lookup returns the specs of the most specific visible rules in ns for
// the hostname: every visible rule naming it exactly, or else the visible
// rules with the longest matching wildcard host.
func (x *drIndex) lookup(ns, hostname string, visible func(*config.DestinationRule) bool) []*networking.DestinationRule {
	nr := x.byNS[ns]
	if nr == nil {
		return nil
	}
	var matched []*networking.DestinationRule
	for _, i := range nr.exact[hostname] {
		if visible(&x.drs[i]) {
			matched = append(matched, x.drs[i].Spec)
		}
	}
	if len(matched) > 0 {
		return matched
	}
	bestScore, bestHost := -1, ""
	for _, i := range nr.wild {
		dr := &x.drs[i]
		if !visible(dr) {
			continue
		}
		h := nr.hosts[i]
		switch s := hostSpecificity(h, hostname); {
		case s > bestScore:
			matched, bestScore, bestHost = []*networking.DestinationRule{dr.Spec}, s, h
		case s == bestScore && s >= 0 && h == bestHost:
			matched = append(matched, dr.Spec)
		}
	}
	return matched
}
