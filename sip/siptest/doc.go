// Package siptest starts real SIP peers on loopback for tests: SIPp
// callees with one scripted behaviour each, Kamailio as an "ITSP trunk"
// that demands digest authentication, and baresip as an auto-answering
// phone that presses keys.
//
//	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "1234#"})
//	// call uas.URI from 127.0.0.1; "1234#" arrives as RFC 4733 events
//	trunk := siptest.Kamailio(t, siptest.KamailioConfig{
//		Users:  map[string]string{"trunkuser": "Trunk-Secret-1"},
//		Routes: map[string]string{"dtmf": uas.URI},
//	})
//	// INVITE trunk.TrunkURI("dtmf") via trunk.Addr: 407, then the callee
//	phone := siptest.Baresip(t, siptest.BaresipConfig{Digits: "#"})
//	// call phone.URI: answered, then '#' as RFC 4733 after 1.5 s
//
// Each function fails the test (never skips it) when the program is
// missing, telling the reader to run `make test-deps` (the Debian packages
// sip-tester, kamailio and baresip-core, installed by .ci/peers-deps); it
// returns once its peer is ready (a few tens of milliseconds), or fails
// the test after StartTimeout. The peer is stopped by its PID when the test
// ends (Kamailio through the process group it leads, and as root inside a
// PID namespace of its own, so that its workers cannot outlive it), and the
// tail of its logs is printed if the test failed. If the test binary dies
// without running its cleanups (a panic, go test's -timeout), the kernel
// kills the peers. The configuration, scenarios, generated
// media and logs live in t.TempDir(). Nothing listens on other addresses
// than 127.0.0.1, except two DNS client sockets of baresip (see Baresip).
//
// Ports are not fixed: every peer takes a block of BlockSize consecutive
// ports from PortBlock, between 20000 and 31999, below the kernel's
// ephemeral range and clear of the fixed ports of shared/testbed, reserved
// through lock files shared by every test process on the machine; so tests
// can run in parallel, within a package and across packages. Tests may
// take blocks for their own listeners too.
//
// SIPp plays its RTP with play_pcap_audio, from pcap files this package
// generates at start (dtmf.Sender for the telephone-events, dtmf.AppendTones
// and G.711 for tones); that needs a raw socket, so the modes that send
// media require root (CI runs as root). Everything is UDP over IPv4.
//
// Out of scope: a recorder of the audio a callee receives (SIPp 3.6.1
// cannot record; the Echo mode returns what it receives instead), TLS, TCP
// to SIPp, IPv6.
package siptest
