package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/siptest"
)

// testCert makes a self-signed certificate for 127.0.0.1 and writes it,
// as the trunk's CA file, into dir.
func testCert(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pbx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"pbx.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, caFile
}

func startPhoneOn(t *testing.T, transport string, tlsConf *tls.Config, handle func(*Incoming)) *Phone {
	t.Helper()
	p, err := NewPhone(PhoneConfig{Transport: transport, TLS: tlsConf, Media: media.Config{BindIP: loopback}}, handle, testLog(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		p.Close()
	})
	<-p.Ready()
	return p
}

func TestTransports(t *testing.T) {
	tlsConf, caFile := testCert(t, t.TempDir())
	for _, tc := range []struct {
		transport string
		trunk     func(p *Phone) Trunk
	}{
		{"tcp", func(p *Phone) Trunk {
			return Trunk{Name: "pbx", Address: "sip:" + p.Addr().String() + ";transport=tcp", KeepAlive: -1}
		}},
		{"tls", func(p *Phone) Trunk {
			return Trunk{Name: "pbx", Address: p.Addr().String(), Transport: "tls", CAFile: caFile, KeepAlive: -1}
		}},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			p := startPhoneOn(t, tc.transport, tlsConf, answerAndPress("#", media.RFC4733))
			a, _ := startAgent(t, []Trunk{tc.trunk(p)}, nil)
			c, err := a.Dial(context.Background(), "100", DialOptions{})
			if err != nil {
				t.Fatalf("Dial over %s: %v", tc.transport, err)
			}
			if got, _ := readKeys(t, c, "#", 5*time.Second); got != "#" {
				t.Fatalf("keys %q, want #", got)
			}
			if err := c.Hangup(context.Background()); err != nil {
				t.Fatalf("BYE over %s: %v", tc.transport, err)
			}
		})
	}
	// A certificate the CA file does not vouch for: no call.
	t.Run("tls-untrusted", func(t *testing.T) {
		p := startPhoneOn(t, "tls", tlsConf, answerAndPress("#", media.RFC4733))
		_, wrongCA := testCert(t, t.TempDir())
		a, _ := startAgent(t, []Trunk{{Name: "pbx", Address: p.Addr().String(), Transport: "tls", CAFile: wrongCA, KeepAlive: -1}}, nil)
		if _, err := a.Dial(context.Background(), "100", DialOptions{}); OutcomeOf(err) != Unreachable {
			t.Fatalf("Dial to an untrusted certificate: %v, want unreachable", err)
		}
	})
}

func TestReInviteAnsweredWithOurSDP(t *testing.T) {
	answers := make(chan string, 1)
	p := startPhone(t, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
		res, err := c.ReInvite(context.Background())
		if err != nil {
			answers <- "error: " + err.Error()
			return
		}
		answers <- res.StartLine() + "\n" + string(res.Body())
		<-c.Done()
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(context.Background())
	select {
	case got := <-answers:
		if !strings.HasPrefix(got, "SIP/2.0 200") || !strings.Contains(got, "m=audio "+strings.Split(c.Media().LocalAddr().String(), ":")[1]) {
			t.Fatalf("re-INVITE answered %q, want 200 with our media port %v", got, c.Media().LocalAddr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the re-INVITE")
	}
	select {
	case <-c.Done():
		t.Fatal("the re-INVITE ended the call")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestOutboundProxy: the Request-URI names a carrier host that does not
// resolve; the INVITE must go to the outbound proxy (Kamailio) instead,
// which relays it by user to SIPp. Our requests leave from the listening
// socket: SIPp sees our listening port in Via.
func TestOutboundProxy(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#"})
	k := siptest.Kamailio(t, siptest.KamailioConfig{Default: p.URI})
	a, _ := startAgent(t, []Trunk{{Name: "carrier", Address: "sip:carrier.invalid:5060", OutboundProxy: k.Addr,
		Username: siptest.DefaultTrunkUser, Password: siptest.DefaultTrunkPassword, KeepAlive: -1}}, nil)
	c, err := a.Dial(context.Background(), "+15551234567", DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Hangup(context.Background())
	if got, _ := readKeys(t, c, "#", 8*time.Second); got != "#" {
		t.Fatalf("keys %q, want #", got)
	}
	if msgs := p.Messages(); !strings.Contains(msgs, "INVITE sip:+15551234567@carrier.invalid") {
		t.Errorf("SIPp did not get the carrier's Request-URI:\n%s", msgs)
	}
	port := strings.TrimPrefix(a.Addrs()[0], "udp:127.0.0.1:")
	if msgs := k.Log(); !strings.Contains(msgs, "from 127.0.0.1:"+port) {
		t.Errorf("the INVITE did not come from the listening port %s; Kamailio log:\n%s", port, msgs)
	}
}
