package config

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// validateService applies Kubernetes' validation of a Service, and says
// what a Service type means locally.
func validateService(c *docCtx, s *corev1.ServiceSpec) {
	switch s.Type {
	case "", corev1.ServiceTypeClusterIP:
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		c.warnf("spec.type", "type %s is treated as ClusterIP locally", s.Type)
	case corev1.ServiceTypeExternalName:
		switch err := checkHost(s.ExternalName); {
		case s.ExternalName == "":
			c.errorf("spec.externalName", "required with type ExternalName")
		case err != nil || strings.HasPrefix(s.ExternalName, "*"):
			c.errorf("spec.externalName", "%q is not a host name", s.ExternalName)
		}
		if len(s.Selector) > 0 {
			c.warnf("spec.selector", "ignored with type ExternalName")
		}
	default:
		c.errorf("spec.type", "unsupported value %q: must be one of ClusterIP, NodePort, LoadBalancer, ExternalName", s.Type)
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP {
		c.warnf("spec.sessionAffinity", "ClientIP is not yet supported; ignored")
	}
	if s.ClusterIP != "" && s.ClusterIP != corev1.ClusterIPNone && !isIP(s.ClusterIP) {
		c.errorf("spec.clusterIP", "%q is not an IP address (or \"None\")", s.ClusterIP)
	}
	headless := s.ClusterIP == corev1.ClusterIPNone
	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		c.errorf("spec.ports", "at least one port is required")
	}
	validateServicePorts(c, s.Ports)
	checkLabels(c, "spec.selector", s.Selector)
}

func validateServicePorts(c *docCtx, ports []corev1.ServicePort) {
	byName := firstDuplicate(ports, func(p corev1.ServicePort) string { return p.Name })
	byPort := firstDuplicate(ports, func(p corev1.ServicePort) string { return fmt.Sprint(p.Port, "/", protocolOf(p.Protocol)) })
	for i, port := range ports {
		p := fmt.Sprintf("spec.ports[%d]", i)
		switch {
		case port.Name == "" && len(ports) > 1:
			c.errorf(p+".name", "a name is required when the Service has more than one port")
		case port.Name == "":
		case byName[i] >= 0:
			c.errorf(p+".name", "duplicate port name %q (also spec.ports[%d])", port.Name, byName[i])
		default:
			checkDNSLabel(c, p+".name", "port name", port.Name)
		}
		if checkPortNumber(c, p+".port", int64(port.Port)) && byPort[i] >= 0 {
			c.errorf(p+".port", "duplicate port %d/%s (also spec.ports[%d])", port.Port, protocolOf(port.Protocol), byPort[i])
		}
		checkProtocol(c, p+".protocol", port.Protocol)
		checkTargetPort(c, p+".targetPort", port.TargetPort)
	}
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func checkProtocol(c *docCtx, field string, p corev1.Protocol) {
	switch p {
	case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		c.errorf(field, "unsupported value %q: must be one of TCP, UDP, SCTP", p)
	}
}

// checkTargetPort validates a port given by number or by name.
func checkTargetPort(c *docCtx, field string, v intstr.IntOrString) {
	switch {
	case v.Type == intstr.Int && v.IntVal == 0:
	case v.Type == intstr.Int:
		checkPortNumber(c, field, int64(v.IntVal))
	default:
		if errs := validation.IsValidPortName(v.StrVal); len(errs) > 0 {
			c.errorf(field, "invalid port name %q: %s", v.StrVal, strings.Join(errs, "; "))
		}
	}
}

// validateDeployment applies Kubernetes' validation of a Deployment and
// what Halyard needs to run its pods as local processes.
func validateDeployment(c *docCtx, d *appsv1.DeploymentSpec) {
	if d.Replicas != nil && *d.Replicas < 0 {
		c.errorf("spec.replicas", "must not be negative")
	}
	validateSelector(c, d.Selector, d.Template.Labels)
	checkLabels(c, "spec.template.metadata.labels", d.Template.Labels)
	pod := d.Template.Spec
	if sa := pod.ServiceAccountName; sa != "" {
		checkName(c, podSpec+"serviceAccountName", sa, validation.IsDNS1123Subdomain)
	}
	if len(pod.Containers) == 0 {
		c.errorf(podSpec+"containers", "at least one container is required")
	}
	names := firstDuplicate(pod.Containers, func(ct corev1.Container) string { return ct.Name })
	for i, ct := range pod.Containers {
		p := fmt.Sprintf("%scontainers[%d]", podSpec, i)
		switch {
		case ct.Name == "":
			c.errorf(p+".name", "missing required field")
		case names[i] >= 0:
			c.errorf(p+".name", "duplicate container name %q (also containers[%d])", ct.Name, names[i])
		default:
			checkDNSLabel(c, p+".name", "container name", ct.Name)
		}
		validateContainer(c, p, ct)
	}
	validateContainerPorts(c, pod.Containers)
}

func validateSelector(c *docCtx, sel *metav1.LabelSelector, tmpl map[string]string) {
	if sel == nil {
		c.errorf("spec.selector", "missing required field")
		return
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	switch {
	case err != nil:
		c.errorf("spec.selector", "invalid selector: %v", err)
	case s.Empty():
		c.errorf("spec.selector", "an empty selector is invalid for a Deployment")
	case !s.Matches(labels.Set(tmpl)):
		c.errorf("spec.template.metadata.labels", "selector does not match template labels")
	}
}

func validateContainer(c *docCtx, p string, ct corev1.Container) {
	if len(ct.Command) == 0 {
		c.errorf(p+".command", "missing required field: Halyard runs command and args as a local process (it does not know the image's entrypoint)")
	}
	for j, e := range ct.Env {
		if e.Name == "" {
			c.errorf(fmt.Sprintf("%s.env[%d].name", p, j), "missing required field")
		}
	}
	if pr := ct.ReadinessProbe; pr != nil {
		n := 0
		for _, set := range []bool{pr.Exec != nil, pr.HTTPGet != nil, pr.TCPSocket != nil, pr.GRPC != nil} {
			if set {
				n++
			}
		}
		if n > 1 {
			c.errorf(p+".readinessProbe", "only one of exec, httpGet, tcpSocket or grpc may be set")
		}
		if pr.HTTPGet != nil {
			checkProbePort(c, p+".readinessProbe.httpGet.port", pr.HTTPGet.Port, ct)
		}
		if pr.TCPSocket != nil {
			checkProbePort(c, p+".readinessProbe.tcpSocket.port", pr.TCPSocket.Port, ct)
		}
	}
}

// checkProbePort checks a probe's port. A name that is none of the
// container's ports is accepted, as Kubernetes does, but warned about.
func checkProbePort(c *docCtx, field string, v intstr.IntOrString, ct corev1.Container) {
	if v.Type == intstr.Int {
		checkPortNumber(c, field, int64(v.IntVal))
		return
	}
	checkTargetPort(c, field, v)
	for _, p := range ct.Ports {
		if p.Name == v.StrVal {
			return
		}
	}
	c.warnf(field, "no container port is named %q: the probe cannot succeed", v.StrVal)
}

// validateContainerPorts checks ports across the pod: numbers (with their
// protocol) and names must be unique.
func validateContainerPorts(c *docCtx, containers []corev1.Container) {
	numbers, names := map[string]string{}, map[string]string{}
	for i, ct := range containers {
		for j, port := range ct.Ports {
			p := fmt.Sprintf("%scontainers[%d].ports[%d]", podSpec, i, j)
			key := fmt.Sprint(port.ContainerPort, "/", protocolOf(port.Protocol))
			if checkPortNumber(c, p+".containerPort", int64(port.ContainerPort)) {
				if first, dup := numbers[key]; dup {
					c.errorf(p+".containerPort", "duplicate container port %s (also %s)", key, first)
				} else {
					numbers[key] = p
				}
			}
			checkProtocol(c, p+".protocol", port.Protocol)
			if port.Name == "" {
				continue
			}
			if first, dup := names[port.Name]; dup {
				c.errorf(p+".name", "duplicate port name %q (also %s)", port.Name, first)
				continue
			}
			names[port.Name] = p
			if errs := validation.IsValidPortName(port.Name); len(errs) > 0 {
				c.errorf(p+".name", "invalid port name %q: %s", port.Name, strings.Join(errs, "; "))
			}
		}
	}
}
