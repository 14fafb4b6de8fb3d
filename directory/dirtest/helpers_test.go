package dirtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// tlsConfig trusts only the server's own CA.
func tlsConfig(t *testing.T, s *Server) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", s.CAFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// transport is how a test connects.
type transport string

const (
	startTLS transport = "StartTLS"
	ldaps    transport = "LDAPS"
)

// dial connects to s over tr, verifying the certificate against s.CAFile.
func dial(t *testing.T, s *Server, tr transport) *ldap.Conn {
	t.Helper()
	cfg := tlsConfig(t, s)
	var (
		c   *ldap.Conn
		err error
	)
	if tr == ldaps {
		c, err = ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(cfg))
	} else {
		c, err = ldap.DialURL(s.URL)
		if err == nil {
			if err = c.StartTLS(cfg); err != nil {
				c.Close()
			}
		}
	}
	if err != nil {
		t.Fatalf("dial %s: %v", tr, err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

// bind binds a fresh connection over tr as dn and returns the bind's error.
func bind(t *testing.T, s *Server, tr transport, dn, password string) error {
	t.Helper()
	return dial(t, s, tr).Bind(dn, password)
}

// service returns a connection bound as the service account over LDAPS.
func service(t *testing.T, s *Server) *ldap.Conn {
	t.Helper()
	c := dial(t, s, ldaps)
	if err := c.Bind(s.BindDN, s.BindPassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	return c
}

// attr reads one attribute of dn as c sees it ("" when absent).
func attr(t *testing.T, c *ldap.Conn, dn, name string) string {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=*)", []string{name}, nil))
	if err != nil {
		t.Fatalf("read %s of %s: %v", name, dn, err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("read %s of %s: %d entries", name, dn, len(res.Entries))
	}
	return res.Entries[0].GetAttributeValue(name)
}

// ldapCode returns the LDAP result code of err, or -1.
func ldapCode(err error) int {
	var le *ldap.Error
	if errors.As(err, &le) {
		return int(le.ResultCode)
	}
	return -1
}
