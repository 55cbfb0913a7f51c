package identity

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// certsDump is the shape of Envoy's admin /certs.
type certsDump struct {
	Certificates []certsEntry `json:"certificates"`
}

type certsEntry struct {
	CACert    []certDetails `json:"ca_cert"`
	CertChain []certDetails `json:"cert_chain"`
}

type certDetails struct {
	Path                string    `json:"path"`
	SerialNumber        string    `json:"serial_number"`
	SubjectAltNames     []sanInfo `json:"subject_alt_names"`
	DaysUntilExpiration string    `json:"days_until_expiration"`
	ValidFrom           time.Time `json:"valid_from"`
	ExpirationTime      time.Time `json:"expiration_time"`
}

type sanInfo struct {
	URI string `json:"uri,omitempty"`
	DNS string `json:"dns,omitempty"`
}

// CertsHandler serves the current certificates as JSON in the shape of
// Envoy's admin /certs: the trust bundle under ca_cert ("ROOTCA") and the
// workload certificate under cert_chain ("default").
func (m *Manager) CertsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		dump := certsDump{Certificates: []certsEntry{}}
		if mat := m.cur.Load(); mat != nil {
			e := certsEntry{CertChain: []certDetails{m.details(SecretDefault, mat.cert.Leaf)}}
			for _, r := range mat.rootList {
				e.CACert = append(e.CACert, m.details(SecretRootCA, r))
			}
			dump.Certificates = append(dump.Certificates, e)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(dump)
	})
}

func (m *Manager) details(path string, c *x509.Certificate) certDetails {
	d := certDetails{
		Path: path, SerialNumber: c.SerialNumber.Text(16), SubjectAltNames: []sanInfo{},
		DaysUntilExpiration: strconv.Itoa(max(int(c.NotAfter.Sub(m.opts.Now()).Hours()/24), 0)),
		ValidFrom:           c.NotBefore.UTC(), ExpirationTime: c.NotAfter.UTC(),
	}
	for _, u := range c.URIs {
		d.SubjectAltNames = append(d.SubjectAltNames, sanInfo{URI: u.String()})
	}
	for _, n := range c.DNSNames {
		d.SubjectAltNames = append(d.SubjectAltNames, sanInfo{DNS: n})
	}
	return d
}
