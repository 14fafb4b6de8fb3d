// Package dirtest starts real directory servers on loopback for the tests
// of package directory and of the packages that use it: an OpenLDAP slapd
// with the ppolicy overlay (Slapd) and a Samba Active Directory domain
// controller (SambaAD), each seeded with the same users (alice, bob, carol,
// dave), a password policy (lockout after 3 failures, minimum length 8,
// history 3) and a service account with the rights a reset service needs,
// and no more.
//
// Each server gets its own throw-away CA (Server.CAFile) and is reached
// over StartTLS (Server.URL) or LDAPS (Server.LDAPSURL). The functions fail
// the test, never skip it, when the servers' Debian packages are missing:
// `make test-deps` (.ci/directory-deps) installs them. Every process they
// start is stopped by its PID when the test ends.
package dirtest
