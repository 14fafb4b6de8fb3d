package media

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSIPpPeers places calls to the real callees of the test bed and
// checks that the session hears the keys they send: the SIPp 3.6.1 UAS
// (shared/testbed/sipp-uas.sh: RFC 4733 events in modes dtmf and pin,
// in-band tones in PCMU in mode inband) and baresip 1.0.0
// (shared/testbed/baresip.sh: RFC 4733 events from libre's telev). SIP is
// spoken by hand, just enough for one call (the SIP layer is package
// sip's business). It runs for each peer whose exports are in the
// environment:
//
//	eval "$(shared/testbed/sipp-uas.sh start dtmf pin inband)"
//	eval "$(shared/testbed/baresip.sh start)"
func TestSIPpPeers(t *testing.T) {
	peers := []struct {
		name, user string
		host, port string // environment variables
		keys       string // environment variable
		method     Method
	}{
		{"sipp-dtmf", "dtmf", "SIPP_UAS_DTMF_HOST", "SIPP_UAS_DTMF_PORT", "SIPP_UAS_DTMF_DIGITS", RFC4733},
		{"sipp-pin", "pin", "SIPP_UAS_PIN_HOST", "SIPP_UAS_PIN_PORT", "SIPP_UAS_PIN_DIGITS", RFC4733},
		{"sipp-inband", "inband", "SIPP_UAS_INBAND_HOST", "SIPP_UAS_INBAND_PORT", "SIPP_UAS_INBAND_DIGITS", InBand},
		{"baresip", "testbed", "BARESIP_HOST", "BARESIP_SIP_PORT", "BARESIP_DTMF_DIGITS", RFC4733},
	}
	ran := false
	// One engine: its port rotation keeps a call off the port of the one
	// before, whose peer may still be streaming after the BYE. It latches:
	// baresip's c= line may carry its primary interface, not loopback.
	cfg := testConfig()
	cfg.Latch = true
	e, _ := newEngine(t, cfg)
	for _, pr := range peers {
		host, port, keys := os.Getenv(pr.host), os.Getenv(pr.port), os.Getenv(pr.keys)
		if host == "" || port == "" || keys == "" {
			continue
		}
		ran = true
		t.Run(pr.name, func(t *testing.T) {
			s := open(t, e)
			c := dialSIPp(t, net.JoinHostPort(host, port))
			offer, _ := s.Offer()
			answer := c.invite(pr.user, offer)
			if err := s.SetAnswer(answer); err != nil {
				t.Fatalf("the peer's answer: %v\n%s", err, answer)
			}
			t.Logf("answer:\n%s", answer)
			s.SetPeerIP(c.to.AddrPort().Addr())
			s.Start()
			c.ack()
			var ds []Digit
			timeout := time.After(15 * time.Second)
		wait:
			for len(ds) < len(keys) {
				select {
				case d := <-s.Digits():
					ds = append(ds, d)
				case <-timeout:
					break wait
				}
			}
			c.bye()
			if got := keysOf(ds); got != keys {
				t.Fatalf("heard %q, want %q", got, keys)
			}
			for _, d := range ds {
				if d.Method != pr.method {
					t.Errorf("key by %v, want %v", d.Method, pr.method)
				}
			}
			st := s.Stats()
			t.Logf("stats: %+v", st)
			if st.DroppedSource+st.DroppedMalformed+st.DroppedPayloadType != 0 {
				t.Errorf("the peer's packets dropped: %+v", st)
			}
		})
	}
	if !ran {
		t.Skip("no test bed in the environment: eval \"$(shared/testbed/sipp-uas.sh start dtmf pin inband)\"; eval \"$(shared/testbed/baresip.sh start)\"")
	}
}

// sipClient is a minimal UDP SIP caller for one call.
type sipClient struct {
	t      *testing.T
	conn   *net.UDPConn
	to     *net.UDPAddr
	local  string
	uri    string
	toHdr  string // the To header of the 200 OK, with the tag
	callID string
}

func dialSIPp(t *testing.T, addr string) *sipClient {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipClient{t: t, conn: conn, to: to, local: conn.LocalAddr().String(),
		callID: fmt.Sprintf("media-test-%d@127.0.0.1", time.Now().UnixNano())}
}

// request sends a request with the given method, CSeq and body.
func (c *sipClient) request(method string, cseq int, body []byte) {
	c.t.Helper()
	to := c.toHdr
	if to == "" {
		to = "To: <" + c.uri + ">"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:media-test@127.0.0.1>;tag=mt1\r\n%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:media-test@%s>\r\n",
		method, c.uri, c.local, time.Now().UnixNano(), to, c.callID, cseq, method, c.local)
	if body != nil {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	if _, err := c.conn.WriteToUDP(b.Bytes(), c.to); err != nil {
		c.t.Fatal(err)
	}
}

// response waits for a final response and returns its status, headers and
// body.
func (c *sipClient) response() (status string, hdr string, body []byte) {
	c.t.Helper()
	buf := make([]byte, 8192)
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			c.t.Fatalf("no final response from SIPp: %v", err)
		}
		msg := buf[:n]
		if !bytes.HasPrefix(msg, []byte("SIP/2.0 ")) || len(msg) < 12 || msg[8] == '1' {
			continue // provisional, or a request
		}
		h, b, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		return string(msg[8:11]), string(h), bytes.Clone(b)
	}
}

// invite calls user and returns the SDP answer of the 200 OK.
func (c *sipClient) invite(user string, offer []byte) []byte {
	c.t.Helper()
	c.uri = fmt.Sprintf("sip:%s@%s", user, c.to)
	c.request("INVITE", 1, offer)
	status, hdr, body := c.response()
	if status != "200" {
		c.t.Fatalf("INVITE answered %s", status)
	}
	for _, line := range strings.Split(hdr, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "to:") {
			c.toHdr = line
		}
	}
	return body
}

func (c *sipClient) ack() { c.request("ACK", 1, nil) }

func (c *sipClient) bye() {
	c.request("BYE", 2, nil)
	if status, _, _ := c.response(); status != "200" {
		c.t.Errorf("BYE answered %s", status)
	}
}
