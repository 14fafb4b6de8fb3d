package directory

import (
	"errors"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// classify maps an operation's error to its metrics result.
func classify(err error) result {
	var ae *AuthError
	var pe *PolicyError
	switch {
	case err == nil:
		return resultOK
	case errors.As(err, &ae):
		return resultRefused
	case errors.As(err, &pe):
		return resultPolicy
	case errors.Is(err, ErrNotFound):
		return resultNotFound
	case errors.Is(err, ErrUnavailable):
		return resultUnavailable
	case errors.Is(err, ErrInsecure):
		return resultRefused
	}
	return resultError
}

// adSubCode matches the sub-code of an AD bind refusal:
// "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563".
var adSubCode = regexp.MustCompile(`(?i)\bdata ([0-9a-f]{3,8})\b`)

// adBindSubCode returns the "data NNN" sub-code of an AD bind diagnostic,
// lower case, or "".
func adBindSubCode(diagnostic string) string {
	m := adSubCode.FindStringSubmatch(diagnostic)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// adAuthReason maps an AD bind sub-code to a reason.
func adAuthReason(sub string) AuthReason {
	switch sub {
	case "52e", "525":
		return BadCredentials
	case "775":
		return LockedOut
	case "533":
		return Disabled
	case "532", "701":
		return Expired
	case "773":
		return MustChange
	}
	return AuthUnknown
}

// The ppolicy response control's error values (draft-behera).
const (
	ppPasswordExpired             = 0
	ppAccountLocked               = 1
	ppChangeAfterReset            = 2
	ppPasswordModNotAllowed       = 3
	ppMustSupplyOldPassword       = 4
	ppInsufficientPasswordQuality = 5
	ppPasswordTooShort            = 6
	ppPasswordTooYoung            = 7
	ppPasswordInHistory           = 8
)

// ppolicyAuthReason maps a ppolicy bind error to a reason.
func ppolicyAuthReason(code int8) AuthReason {
	switch code {
	case ppPasswordExpired:
		return Expired
	case ppAccountLocked:
		return LockedOut
	case ppChangeAfterReset:
		return MustChange
	}
	return BadCredentials
}

// ppolicyControl finds the ppolicy response control among controls.
func ppolicyControl(controls []ldap.Control) *ldap.ControlBeheraPasswordPolicy {
	for _, c := range controls {
		if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok {
			return pp
		}
	}
	return nil
}

// errorControls decodes the response controls carried in an *ldap.Error's
// packet (go-ldap does not return them on failure).
func errorControls(le *ldap.Error) []ldap.Control {
	if le == nil || le.Packet == nil || len(le.Packet.Children) < 3 {
		return nil
	}
	var out []ldap.Control
	for _, child := range le.Packet.Children[2].Children {
		if c, err := ldap.DecodeControl(child); err == nil && c != nil {
			out = append(out, c)
		}
	}
	return out
}

// authError maps a refused bind to an *AuthError, or nil if err is not a
// refusal (network trouble, for instance).
func authError(kind Kind, err error) *AuthError {
	var le *ldap.Error
	if !errors.As(err, &le) || isUnavailable(err) {
		return nil
	}
	if kind == AD {
		if sub := adBindSubCode(le.Err.Error()); sub != "" {
			return &AuthError{Reason: adAuthReason(sub), Err: err}
		}
	} else if pp := ppolicyControl(errorControls(le)); pp != nil && pp.Error >= 0 {
		return &AuthError{Reason: ppolicyAuthReason(pp.Error), Err: err}
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		return &AuthError{Reason: BadCredentials, Err: err}
	case ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultConstraintViolation:
		return &AuthError{Reason: AuthUnknown, Err: err}
	}
	return nil
}

// policyError maps a refused password change to a *PolicyError, or nil if
// err is not a policy refusal.
func policyError(kind Kind, err error) *PolicyError {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return nil
	}
	if kind == OpenLDAP {
		if pp := ppolicyControl(errorControls(le)); pp != nil && pp.Error >= 0 {
			if r, ok := ppolicyPolicyReason(pp.Error); ok {
				return &PolicyError{Reason: r, Err: err}
			}
		}
	}
	msg := le.Err.Error()
	switch {
	case kind == AD && !strings.Contains(strings.ToUpper(msg), "0000052D"):
		// AD marks policy refusals (constraint violation 19, or 53 on
		// Windows) with the Win32 code ERROR_PASSWORD_RESTRICTION.
		return nil
	case kind == OpenLDAP && le.ResultCode != ldap.LDAPResultConstraintViolation:
		return nil
	}
	return &PolicyError{Reason: policyReason(msg), Err: err}
}

// ppolicyPolicyReason maps a ppolicy password-change error to a reason.
func ppolicyPolicyReason(code int8) (PolicyReason, bool) {
	switch code {
	case ppInsufficientPasswordQuality:
		return NotComplex, true
	case ppPasswordTooShort:
		return TooShort, true
	case ppPasswordTooYoung:
		return TooRecent, true
	case ppPasswordInHistory:
		return InHistory, true
	case ppPasswordModNotAllowed, ppMustSupplyOldPassword:
		return PolicyOther, true
	}
	return "", false
}

// policyReason reads the reason from a server's diagnostic message (AD
// and Samba "0000052D: Constraint violation - ..." texts, OpenLDAP
// ppolicy texts).
func policyReason(msg string) PolicyReason {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "too short"), strings.Contains(m, "minimum length"):
		return TooShort
	case strings.Contains(m, "history"):
		return InHistory
	case strings.Contains(m, "too young"), strings.Contains(m, "too recent"), strings.Contains(m, "minimum password age"):
		return TooRecent
	case strings.Contains(m, "complexity"), strings.Contains(m, "quality"), strings.Contains(m, "not complex"):
		return NotComplex
	}
	return PolicyOther
}
