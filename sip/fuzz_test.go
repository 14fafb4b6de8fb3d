package sip

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/sip/media"
)

// fakeTx is a server transaction that records the responses sent on it.
type fakeTx struct {
	mu        sync.Mutex
	responses []*sipmsg.Response
	done      chan struct{}
	once      sync.Once
}

var _ sipmsg.ServerTransaction = (*fakeTx)(nil)

func newFakeTx() *fakeTx { return &fakeTx{done: make(chan struct{})} }

func (tx *fakeTx) Respond(res *sipmsg.Response) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.responses = append(tx.responses, res)
	return nil
}
func (tx *fakeTx) Terminate()                            { tx.once.Do(func() { close(tx.done) }) }
func (tx *fakeTx) OnTerminate(sipmsg.FnTxTerminate) bool { return true }
func (tx *fakeTx) Done() <-chan struct{}                 { return tx.done }
func (tx *fakeTx) Err() error                            { return nil }
func (tx *fakeTx) Acks() <-chan *sipmsg.Request          { return nil }
func (tx *fakeTx) OnCancel(sipmsg.FnTxCancel) bool       { return true }

// finals returns the final responses sent.
func (tx *fakeTx) finals() []*sipmsg.Response {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	var out []*sipmsg.Response
	for _, r := range tx.responses {
		if !r.IsProvisional() {
			out = append(out, r)
		}
	}
	return out
}

// fuzzCall is the live call in-dialog fuzz inputs reach: an agent call to
// a test phone on loopback, placed again when an input has ended it.
type fuzzCall struct {
	a     *Agent
	phone chan *PhoneCall
	c     *Call
	pc    *PhoneCall
}

// live returns the live call, placing a new one if the last has ended.
func (f *fuzzCall) live(t testing.TB) *Call {
	if f.c != nil {
		select {
		case <-f.c.Done():
		default:
			return f.c
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = f.pc.Hangup(ctx) // the phone's side, which the fuzzed BYE did not end
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := f.a.Dial(ctx, "+15551234567", DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	f.c, f.pc = c, <-f.phone
	return c
}

// placeholders in the corpus, replaced by the live call's values so that
// committed in-dialog requests reach it.
var (
	phCallID    = []byte("@CALLID@")
	phLocalTag  = []byte("@LOCALTAG@")  // our tag: the To tag of requests from the far end
	phRemoteTag = []byte("@REMOTETAG@") // the far end's: their From tag
)

// fuzzSeeds are real requests: an INVITE without To tag, a re-INVITE, a
// BYE, INFO with dtmf-relay and dtmf bodies, OPTIONS, an unknown method,
// CANCEL, ACK, and a huge header.
var fuzzSeeds = []string{
	"INVITE sip:+15550000000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1:5099>;tag=a1\r\nTo: <sip:+15550000000@127.0.0.1>\r\nCall-ID: out-1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:5099>\r\nContent-Type: application/sdp\r\nContent-Length: 129\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
	"INVITE sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-2\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 2 INVITE\r\nContact: <sip:x@127.0.0.1:5099>\r\nContent-Length: 0\r\n\r\n",
	"BYE sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-3\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
	"INFO sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-4\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 4 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 26\r\n\r\nSignal=5\r\nDuration=160\r\n",
	"INFO sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-5\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 5 INFO\r\nContent-Type: application/dtmf\r\nContent-Length: 1\r\n\r\n#",
	"INFO sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-6\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 6 INFO\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
	"OPTIONS sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-7\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=o1\r\nTo: <sip:sspr@127.0.0.1>\r\nCall-ID: opt-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n",
	"FROBNICATE sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-8\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=u1\r\nTo: <sip:sspr@127.0.0.1>\r\nCall-ID: unk-1@127.0.0.1\r\nCSeq: 1 FROBNICATE\r\nContent-Length: 0\r\n\r\n",
	"CANCEL sip:+15550000000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-9\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=c1\r\nTo: <sip:+15550000000@127.0.0.1>\r\nCall-ID: can-1@127.0.0.1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
	"ACK sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-10\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=@REMOTETAG@\r\nTo: <sip:sspr@127.0.0.1>;tag=@LOCALTAG@\r\nCall-ID: @CALLID@\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:sspr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-11\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=h1\r\nTo: <sip:sspr@127.0.0.1>\r\nCall-ID: huge-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nX-Huge: " + strings.Repeat("A", 60000) + "\r\nContent-Length: 0\r\n\r\n",
}

// maxResponse bounds the size of a response to any request: the agent
// copies the request's Via, From, To, Call-ID and CSeq, and adds a few
// headers and at most its SDP offer.
const maxResponse = 4096

// FuzzAgentRequest parses arbitrary bytes with sipgo's parser and, when
// they are a request sipgo would pass up (it has the headers a
// transaction needs), hands it to the agent's own handler for its method
// with a recording transaction. The agent has a live call to a test phone;
// @CALLID@, @LOCALTAG@ and @REMOTETAG@ in the input become that call's
// Call-ID and tags, so in-dialog requests reach it. Every request but an
// ACK gets exactly one final response, of bounded size beyond what the
// request itself brought, and the agent still answers OPTIONS afterwards.
func FuzzAgentRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	fc := &fuzzCall{phone: make(chan *PhoneCall, 1)}
	phone, err := NewPhone(PhoneConfig{Media: media.Config{BindIP: loopback, Inactivity: time.Hour}}, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		fc.phone <- c
		<-c.Done()
	}, testLog(f), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	phoneDone := make(chan error, 1)
	go func() { phoneDone <- phone.Run(ctx) }()
	f.Cleanup(func() { cancel(); <-phoneDone; phone.Close() })
	<-phone.Ready()

	a, err := New(Config{
		Listen:      []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks:      []Trunk{{Name: "phone", Address: phone.Addr().String(), KeepAlive: -1}},
		RingTimeout: 5 * time.Second,
		Media:       media.Config{BindIP: loopback, Inactivity: time.Hour},
	}, testLog(f), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	f.Cleanup(func() { cancel(); <-agentDone; a.Close() }) // runs before the phone's
	<-a.Ready()
	fc.a = a
	handlers := a.handlers()
	parser := sipmsg.NewParser()

	f.Fuzz(func(t *testing.T, data []byte) {
		c := fc.live(t)
		data = bytes.ReplaceAll(data, phCallID, []byte(c.id))
		local, _ := c.sess.InviteRequest.From().Params.Get("tag")
		remote, _ := c.sess.InviteResponse.To().Params.Get("tag")
		data = bytes.ReplaceAll(data, phLocalTag, []byte(local))
		data = bytes.ReplaceAll(data, phRemoteTag, []byte(remote))
		msg, err := parser.ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			return
		}
		if _, err := sipmsg.ServerTxKeyMake(req); err != nil {
			return // sipgo answers 400 itself and never passes it up
		}
		req.SetTransport("UDP")
		req.SetSource("127.0.0.1:5099")
		h, ok := handlers[req.Method]
		if !ok {
			h = a.onNoRoute
		}
		tx := newFakeTx()
		h(req, tx)
		finals := tx.finals()
		if req.IsAck() {
			if len(tx.responses) != 0 {
				t.Fatalf("ACK answered: %v", tx.responses[0].StartLine())
			}
			return
		}
		if len(finals) != 1 {
			t.Fatalf("%s: %d final responses, want 1", req.Method, len(finals))
		}
		if id, err := sipmsg.DialogIDFromRequestUAC(req); err == nil && id == c.dialogID &&
			!req.IsCancel() && finals[0].StatusCode == sipmsg.StatusCallTransactionDoesNotExists {
			t.Fatalf("%s in the live call answered 481", req.Method)
		}
		if n, max := len(finals[0].String()), len(data)+maxResponse; n > max {
			t.Fatalf("%s: a %d-byte response to a %d-byte request", req.Method, n, len(data))
		}
		// The agent still answers.
		probe := sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1"})
		probe.AppendHeader(sipmsg.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-probe"))
		probe.AppendHeader(sipmsg.NewHeader("CSeq", "1 OPTIONS"))
		ptx := newFakeTx()
		a.onOptions(probe, ptx)
		if r := ptx.finals(); len(r) != 1 || r[0].StatusCode != sipmsg.StatusOK {
			t.Fatalf("OPTIONS after %s: %v", req.Method, r)
		}
	})
}
