package config

import (
	"fmt"
	"slices"

	networking "istio.io/api/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
)

// crossCheck warns about references between documents that do not resolve.
// These are warnings, not errors: Istio accepts such configuration too, and
// the missing piece may simply not be written yet.
func crossCheck(docs []loadedDoc) {
	var drs []loadedDoc
	hosts := map[string]bool{} // FQDNs of Services, hosts of ServiceEntries
	accounts := map[string]bool{}
	for _, d := range docs {
		switch obj := d.obj.(type) {
		case *networking.DestinationRule:
			drs = append(drs, d)
		case *networking.ServiceEntry:
			for _, h := range obj.Hosts {
				hosts[resolveHost(h, d.meta.Namespace)] = true
			}
		}
		switch d.meta.Kind {
		case "Service":
			hosts[d.meta.Name+"."+d.meta.Namespace+"."+clusterDomain] = true
		case "ServiceAccount":
			accounts[d.meta.Namespace+"/"+d.meta.Name] = true
		}
	}
	for _, d := range docs {
		switch obj := d.obj.(type) {
		case *networking.VirtualService:
			checkSubsets(d, obj, drs)
		case *networking.DestinationRule:
			checkDRHost(d, obj, hosts)
		case *appsv1.Deployment:
			checkServiceAccount(d, obj, accounts)
		}
	}
}

// checkSubsets warns about a destination (of an http, tcp or tls route,
// or a mirror) naming a subset that no DestinationRule for its host
// defines.
func checkSubsets(d loadedDoc, vs *networking.VirtualService, drs []loadedDoc) {
	check := func(field string, dest *networking.Destination) {
		if dest.GetSubset() == "" || dest.GetHost() == "" {
			return
		}
		host := resolveHost(dest.Host, d.meta.Namespace)
		if !slices.Contains(subsetsFor(host, drs), dest.Subset) {
			d.c.warnf(field+".subset", "subset %q is not defined by any DestinationRule for host %s", dest.Subset, host)
		}
	}
	for i, r := range vs.Http {
		for j, rd := range r.Route {
			check(fmt.Sprintf("spec.http[%d].route[%d].destination", i, j), rd.GetDestination())
		}
		check(fmt.Sprintf("spec.http[%d].mirror", i), r.Mirror)
		for j, m := range r.Mirrors {
			check(fmt.Sprintf("spec.http[%d].mirrors[%d].destination", i, j), m.GetDestination())
		}
	}
	for i, r := range vs.Tcp {
		for j, rd := range r.Route {
			check(fmt.Sprintf("spec.tcp[%d].route[%d].destination", i, j), rd.GetDestination())
		}
	}
	for i, r := range vs.Tls {
		for j, rd := range r.Route {
			check(fmt.Sprintf("spec.tls[%d].route[%d].destination", i, j), rd.GetDestination())
		}
	}
}

// subsetsFor returns the subsets of the DestinationRules that apply to
// host: those naming it exactly or, when there are none, those whose
// wildcard host covers it (Istio uses the most specific match).
func subsetsFor(host string, drs []loadedDoc) []string {
	var exact, wild []string
	for _, d := range drs {
		dr := d.obj.(*networking.DestinationRule)
		drHost := resolveHost(dr.Host, d.meta.Namespace)
		var names []string
		for _, s := range dr.Subsets {
			names = append(names, s.Name)
		}
		switch {
		case drHost == host:
			exact = append(exact, names...)
		case hostCovers(drHost, host):
			wild = append(wild, names...)
		}
	}
	if exact != nil {
		return exact
	}
	return wild
}

// checkDRHost warns about a DestinationRule whose host is no Service and no
// ServiceEntry host.
func checkDRHost(d loadedDoc, dr *networking.DestinationRule, hosts map[string]bool) {
	if dr.Host == "" {
		return
	}
	host := resolveHost(dr.Host, d.meta.Namespace)
	for h := range hosts {
		if hostsOverlap(host, h) {
			return
		}
	}
	d.c.warnf("spec.host", "host %s matches no Service or ServiceEntry", host)
}

// checkServiceAccount warns about a pod template naming a ServiceAccount
// that no document defines ("default" always exists).
func checkServiceAccount(d loadedDoc, dep *appsv1.Deployment, accounts map[string]bool) {
	sa := dep.Spec.Template.Spec.ServiceAccountName
	if sa == "" || sa == "default" || accounts[d.meta.Namespace+"/"+sa] {
		return
	}
	d.c.warnf(podSpec+"serviceAccountName", "no ServiceAccount %s/%s is defined", d.meta.Namespace, sa)
}
