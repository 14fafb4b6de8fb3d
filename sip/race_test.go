package sip

import (
	"context"
	"net"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// rawUAS is a far end written against the wire: it lets a test script
// exactly which responses cross which requests.
type rawUAS struct {
	t    *testing.T
	conn net.PacketConn
}

func newRawUAS(t *testing.T) *rawUAS {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawUAS{t: t, conn: conn}
}

// read returns the next request, skipping responses and
// retransmissions of methods in skip.
func (u *rawUAS) read(timeout time.Duration, skip ...sipmsg.RequestMethod) (*sipmsg.Request, net.Addr) {
	u.t.Helper()
	buf := make([]byte, 65535)
	deadline := time.Now().Add(timeout)
	for {
		_ = u.conn.SetReadDeadline(deadline)
		n, from, err := u.conn.ReadFrom(buf)
		if err != nil {
			return nil, nil
		}
		msg, err := sipmsg.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			u.t.Fatalf("far end: bad message: %v", err)
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			continue
		}
		skipped := false
		for _, m := range skip {
			skipped = skipped || req.Method == m
		}
		if !skipped {
			return req, from
		}
	}
}

func (u *rawUAS) send(res *sipmsg.Response, to net.Addr) {
	u.t.Helper()
	if _, err := u.conn.WriteTo([]byte(res.String()), to); err != nil {
		u.t.Fatal(err)
	}
}

// TestOKCrossesCancel: the phone answers just as the ring timeout's CANCEL
// goes out. The agent must take the call (ACK the 200) and end it at once
// (BYE), and report no-answer.
func TestOKCrossesCancel(t *testing.T) {
	u := newRawUAS(t)
	a, _ := startAgent(t, []Trunk{{Name: "raw", Address: u.conn.LocalAddr().String(), KeepAlive: -1}}, nil)

	type result struct{ err error }
	dialled := make(chan result, 1)
	go func() {
		_, err := a.Dial(context.Background(), "100", DialOptions{RingTimeout: 500 * time.Millisecond})
		dialled <- result{err}
	}()

	invite, from := u.read(3 * time.Second)
	if invite == nil || invite.Method != sipmsg.INVITE {
		t.Fatalf("want INVITE, got %v", invite)
	}
	ringing := sipmsg.NewResponseFromRequest(invite, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "uas1")
	u.send(ringing, from)

	cancel, from := u.read(3*time.Second, sipmsg.INVITE)
	if cancel == nil || cancel.Method != sipmsg.CANCEL {
		t.Fatalf("want CANCEL after the ring timeout, got %v", cancel)
	}
	// The 200 to the INVITE, sent before we answer the CANCEL: it crossed.
	ok := sipmsg.NewSDPResponseFromRequest(invite, []byte(farEndSDP))
	ok.To().Params.Add("tag", "uas1")
	ok.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1",
		Port: u.conn.LocalAddr().(*net.UDPAddr).Port}})
	u.send(ok, from)
	u.send(sipmsg.NewResponseFromRequest(cancel, 200, "OK", nil), from)

	ack, _ := u.read(3*time.Second, sipmsg.INVITE, sipmsg.CANCEL)
	if ack == nil || ack.Method != sipmsg.ACK {
		t.Fatalf("want ACK for the 200, got %v", ack)
	}
	bye, from := u.read(3*time.Second, sipmsg.INVITE, sipmsg.CANCEL, sipmsg.ACK)
	if bye == nil || bye.Method != sipmsg.BYE {
		t.Fatalf("want BYE after the ACK, got %v", bye)
	}
	u.send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), from)

	select {
	case r := <-dialled:
		if OutcomeOf(r.err) != NoAnswer {
			t.Fatalf("Dial: %v, want no-answer", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return")
	}
}

// farEndSDP is a plausible answer: PCMU and telephone-event.
const farEndSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
