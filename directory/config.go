package directory

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Kind names the directory server family an LDAP directory talks to.
type Kind string

// The supported server families.
const (
	// AD is Microsoft Active Directory or a Samba AD domain controller.
	AD Kind = "ad"
	// OpenLDAP is OpenLDAP slapd with the ppolicy overlay.
	OpenLDAP Kind = "openldap"
)

// Defaults applied by NewLDAP to zero fields of Config.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultOpTimeout   = 10 * time.Second
	DefaultPoolSize    = 4
	// DefaultADUserFilter finds an AD user by sAMAccountName.
	DefaultADUserFilter = "(&(objectClass=user)(sAMAccountName={username}))"
	// DefaultOpenLDAPUserFilter finds an OpenLDAP user by uid.
	DefaultOpenLDAPUserFilter = "(&(objectClass=inetOrgPerson)(uid={username}))"
	// usernamePlaceholder is replaced in UserFilter by the escaped username.
	usernamePlaceholder = "{username}"
)

// Config configures an LDAP directory. The zero value of every field
// except Type, URLs, BindDN, the bind password and BaseDN means the
// default.
type Config struct {
	// Type is the server family: "ad" or "openldap". Required.
	Type Kind `yaml:"type" json:"type"`
	// URLs are the servers, ldap:// or ldaps://, tried in order until one
	// answers. Required.
	URLs []string `yaml:"urls" json:"urls"`

	// StartTLS upgrades ldap:// connections with StartTLS. Without it an
	// ldap:// URL is refused unless InsecurePlain is set.
	StartTLS bool `yaml:"start_tls" json:"start_tls"`
	// CAFile is a PEM file of the CA certificates that sign the servers'
	// certificates. Empty: the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// ServerName is the name checked against the servers' certificates.
	// Empty: the host of each URL.
	ServerName string `yaml:"server_name" json:"server_name"`
	// InsecurePlain allows ldap:// URLs without StartTLS, for reads only:
	// Authenticate and SetPassword refuse such a connection with
	// ErrInsecure. The service account's own bind does cross it in the
	// clear, which is why it must be asked for explicitly.
	InsecurePlain bool `yaml:"insecure_plain" json:"insecure_plain"`

	// BindDN is the service account's DN (AD also accepts a UPN).
	// Required.
	BindDN string `yaml:"bind_dn" json:"bind_dn"`
	// BindPassword is the service account's password. cmd fills it from
	// BindPasswordFile or an environment variable and rejects a
	// configuration file that only has it inline; it never comes from
	// the file itself.
	BindPassword Secret `yaml:"-" json:"-"`
	// BindPasswordFile is a file holding the service account's password
	// (trailing newline removed). NewLDAP reads it when BindPassword is
	// empty.
	BindPasswordFile string `yaml:"bind_password_file" json:"bind_password_file"`

	// BaseDN is where users are searched, subtree. Required.
	BaseDN string `yaml:"base_dn" json:"base_dn"`
	// UserFilter finds a user; {username} is replaced by the username,
	// escaped. Empty: DefaultADUserFilter or DefaultOpenLDAPUserFilter.
	UserFilter string `yaml:"user_filter" json:"user_filter"`
	// UsernameAttr is the attribute holding the name users type. Empty:
	// sAMAccountName (AD) or uid (OpenLDAP).
	UsernameAttr string `yaml:"username_attr" json:"username_attr"`
	// DisplayNameAttr is the display name attribute. Empty: displayName
	// (AD) or cn (OpenLDAP).
	DisplayNameAttr string `yaml:"display_name_attr" json:"display_name_attr"`
	// MailAttr is the mail attribute. Empty: mail.
	MailAttr string `yaml:"mail_attr" json:"mail_attr"`
	// PhoneAttrs are the phone attributes, in order of preference. Empty:
	// mobile, telephoneNumber.
	PhoneAttrs []string `yaml:"phone_attrs" json:"phone_attrs"`
	// LanguageAttr is the preferred language attribute. Empty:
	// preferredLanguage. "-" reads none.
	LanguageAttr string `yaml:"language_attr" json:"language_attr"`

	// PolicyDN is OpenLDAP's default ppolicy entry, read for
	// pwdLockoutDuration when a user has no pwdPolicySubentry. Empty: a
	// lockout without a known duration lasts until unlocked.
	PolicyDN string `yaml:"policy_dn" json:"policy_dn"`

	// DialTimeout bounds connecting, TLS and the service bind. Zero: 5 s.
	DialTimeout time.Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// OpTimeout bounds every operation. Zero: 10 s.
	OpTimeout time.Duration `yaml:"op_timeout" json:"op_timeout"`
	// PoolSize is the number of service-account connections kept open and
	// the most used at once. Zero: 4.
	PoolSize int `yaml:"pool_size" json:"pool_size"`

	// MustChangeAfterReset makes the user change the password at the next
	// logon after SetPassword (AD pwdLastSet=0, OpenLDAP pwdReset=TRUE).
	MustChangeAfterReset bool `yaml:"must_change_after_reset" json:"must_change_after_reset"`
	// ClearMustChange clears a pending "must change at next logon" after
	// SetPassword (AD pwdLastSet=-1, OpenLDAP delete pwdReset). Exclusive
	// with MustChangeAfterReset.
	ClearMustChange bool `yaml:"clear_must_change" json:"clear_must_change"`
}

// Secret is a password that does not print itself.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret.
func (Secret) GoString() string { return "[redacted]" }

// LogValue redacts the secret in slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.MailAttr == "" {
		c.MailAttr = "mail"
	}
	if len(c.PhoneAttrs) == 0 {
		c.PhoneAttrs = []string{"mobile", "telephoneNumber"}
	}
	if c.LanguageAttr == "" {
		c.LanguageAttr = "preferredLanguage"
	}
	switch c.Type {
	case AD:
		if c.UserFilter == "" {
			c.UserFilter = DefaultADUserFilter
		}
		if c.UsernameAttr == "" {
			c.UsernameAttr = "sAMAccountName"
		}
		if c.DisplayNameAttr == "" {
			c.DisplayNameAttr = "displayName"
		}
	case OpenLDAP:
		if c.UserFilter == "" {
			c.UserFilter = DefaultOpenLDAPUserFilter
		}
		if c.UsernameAttr == "" {
			c.UsernameAttr = "uid"
		}
		if c.DisplayNameAttr == "" {
			c.DisplayNameAttr = "cn"
		}
	}
	return c
}

// validate checks c (after withDefaults); errors name the field.
func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("directory: config %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch c.Type {
	case AD, OpenLDAP:
	case "":
		bad("type", "required (%q or %q)", AD, OpenLDAP)
	default:
		bad("type", "%q is not %q or %q", c.Type, AD, OpenLDAP)
	}
	if len(c.URLs) == 0 {
		bad("urls", "at least one server URL is required")
	}
	for i, s := range c.URLs {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			bad(fmt.Sprintf("urls[%d]", i), "%v", err)
		case u.Host == "":
			bad(fmt.Sprintf("urls[%d]", i), "%q has no host", s)
		case u.Scheme == "ldaps":
		case u.Scheme == "ldap":
			if !c.StartTLS && !c.InsecurePlain {
				bad(fmt.Sprintf("urls[%d]", i), "%q is plain LDAP: set start_tls (or insecure_plain for reads only)", s)
			}
		default:
			bad(fmt.Sprintf("urls[%d]", i), "%q: scheme must be ldap or ldaps", s)
		}
	}
	if c.BindDN == "" {
		bad("bind_dn", "required (the service account)")
	}
	if c.BindPassword == "" && c.BindPasswordFile == "" {
		bad("bind_password_file", "required (or the password from the environment)")
	}
	if c.BaseDN == "" {
		bad("base_dn", "required")
	}
	if n := strings.Count(c.UserFilter, usernamePlaceholder); n == 0 {
		bad("user_filter", "must contain %s", usernamePlaceholder)
	} else if !strings.HasPrefix(c.UserFilter, "(") || !strings.HasSuffix(c.UserFilter, ")") {
		bad("user_filter", "must be a parenthesised LDAP filter")
	}
	if c.DialTimeout < 0 {
		bad("dial_timeout", "must not be negative")
	}
	if c.OpTimeout < 0 {
		bad("op_timeout", "must not be negative")
	}
	if c.PoolSize < 0 || c.PoolSize > 64 {
		bad("pool_size", "must be between 1 and 64")
	}
	if c.MustChangeAfterReset && c.ClearMustChange {
		bad("must_change_after_reset", "exclusive with clear_must_change")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// tlsConfig builds the TLS client configuration for host.
func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("directory: config ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("directory: config ca_file: no PEM certificates in %s", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// bindPassword returns the service account's password, from BindPassword
// or BindPasswordFile.
func (c Config) bindPassword() (string, error) {
	if c.BindPassword != "" {
		return string(c.BindPassword), nil
	}
	b, err := os.ReadFile(c.BindPasswordFile)
	if err != nil {
		return "", fmt.Errorf("directory: config bind_password_file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("directory: config bind_password_file: %s is empty", c.BindPasswordFile)
	}
	return pw, nil
}
