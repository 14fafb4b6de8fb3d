package media

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// sippAnswer is the 200 OK body of the SIPp 3.6.1 UAS in the telephony
// notes (§7.1), as SIPp fills it in: PCMA and telephone-event 101.
const sippAnswer = "v=0\r\n" +
	"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 6000 RTP/AVP 8 101\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-15\r\n"

// baresipAnswer is the answer baresip 1.0.0 sent in the test bed
// (TestSIPpPeers logs it), with LF line ends and the address the
// telephony notes saw baresip put in c= (its primary interface, not
// loopback).
const baresipAnswer = "v=0\n" +
	"o=- 1505352055 730312999 IN IP4 192.0.2.2\n" +
	"s=-\n" +
	"c=IN IP4 192.0.2.2\n" +
	"t=0 0\n" +
	"a=tool:baresip 1.0.0\n" +
	"m=audio 16500 RTP/AVP 0 8 101\n" +
	"a=rtpmap:0 PCMU/8000\n" +
	"a=rtpmap:8 PCMA/8000\n" +
	"a=rtpmap:101 telephone-event/8000\n" +
	"a=fmtp:101 0-15\n" +
	"a=sendrecv\n" +
	"a=label:1\n" +
	"a=ssrc:3007442807 cname:sip:testbed@127.0.0.1:5380\n" +
	"a=minptime:20\n" +
	"a=ptime:20\n"

func TestSetAnswer(t *testing.T) {
	cases := []struct {
		name    string
		answer  string
		want    Negotiation
		latch   bool // the session latches (no usable address)
		recvPT  []uint8
		wantErr error
	}{
		{name: "sipp", answer: sippAnswer,
			want:   Negotiation{Codec: PCMA, EventPT: 101, Remote: netip.MustParseAddrPort("127.0.0.1:6000")},
			recvPT: []uint8{8, 101}},
		{name: "baresip", answer: baresipAnswer,
			want:   Negotiation{Codec: PCMU, EventPT: 101, Remote: netip.MustParseAddrPort("192.0.2.2:16500")},
			recvPT: []uint8{0, 8, 101, 13}},
		{name: "no telephone-event",
			answer: string(sdpBody(netip.MustParseAddrPort("10.0.0.1:4000"), "0")),
			want:   Negotiation{Codec: PCMU, Remote: netip.MustParseAddrPort("10.0.0.1:4000")},
			recvPT: []uint8{0}},
		{name: "telephone-event moved to 96",
			answer: string(sdpBody(netip.MustParseAddrPort("10.0.0.1:4000"), "8 0 96", "rtpmap:96 telephone-event/8000", "fmtp:96 0-16")),
			want:   Negotiation{Codec: PCMA, EventPT: 96, Remote: netip.MustParseAddrPort("10.0.0.1:4000")},
			recvPT: []uint8{8, 0, 96, 101}},
		{name: "telephone-event at 16 kHz ignored",
			answer: string(sdpBody(netip.MustParseAddrPort("10.0.0.1:4000"), "0 97", "rtpmap:97 telephone-event/16000")),
			want:   Negotiation{Codec: PCMU, Remote: netip.MustParseAddrPort("10.0.0.1:4000")}},
		{name: "hold address latches",
			answer: string(sdpBody(netip.MustParseAddrPort("0.0.0.0:4000"), "0")),
			want:   Negotiation{Codec: PCMU}, latch: true},
		{name: "media-level c= wins",
			answer: strings.Replace(sippAnswer, "a=rtpmap:8", "c=IN IP4 10.1.2.3\r\na=rtpmap:8", 1),
			want:   Negotiation{Codec: PCMA, EventPT: 101, Remote: netip.MustParseAddrPort("10.1.2.3:6000")}},
		{name: "ipv6",
			answer: "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n",
			want:   Negotiation{Codec: PCMU, Remote: netip.MustParseAddrPort("[2001:db8::5]:7000")}},
		{name: "host name latches",
			answer: strings.Replace(sippAnswer, "c=IN IP4 127.0.0.1", "c=IN IP4 media.example.net", 1),
			want:   Negotiation{Codec: PCMA, EventPT: 101}, latch: true},
		{name: "only a codec not offered",
			answer:  string(sdpBody(netip.MustParseAddrPort("10.0.0.1:4000"), "18 101", "rtpmap:18 G729/8000", "rtpmap:101 telephone-event/8000")),
			wantErr: ErrNoCodec},
		{name: "PCMU remapped to another codec",
			answer:  string(sdpBody(netip.MustParseAddrPort("10.0.0.1:4000"), "0", "rtpmap:0 G722/8000")),
			wantErr: ErrNoCodec},
		{name: "rejected audio", answer: strings.Replace(sippAnswer, "m=audio 6000", "m=audio 0", 1), wantErr: ErrNoAudio},
		{name: "video only", answer: strings.Replace(sippAnswer, "m=audio", "m=video", 1), wantErr: ErrNoAudio},
		{name: "srtp", answer: strings.Replace(sippAnswer, "RTP/AVP", "RTP/SAVP", 1), wantErr: ErrNoAudio},
		{name: "port not a number", answer: strings.Replace(sippAnswer, "6000", "60a0", 1), wantErr: ErrBadPort},
		{name: "port too big", answer: strings.Replace(sippAnswer, "6000", "70000", 1), wantErr: ErrBadPort},
		{name: "port count", answer: strings.Replace(sippAnswer, "6000", "6000/2", 1), wantErr: ErrBadPort},
		{name: "payload type not a number", answer: strings.Replace(sippAnswer, "8 101", "8 x", 1), wantErr: ErrSDP},
		{name: "payload type above 127", answer: strings.Replace(sippAnswer, "8 101", "8 201", 1), wantErr: ErrSDP},
		{name: "bad rtpmap", answer: strings.Replace(sippAnswer, "rtpmap:101 ", "rtpmap:1o1 ", 1), wantErr: ErrSDP},
		{name: "not sdp", answer: "INVITE sip:x SIP/2.0\r\n\r\n", wantErr: ErrSDP},
		{name: "empty", answer: "", wantErr: ErrSDP},
		{name: "truncated", answer: sippAnswer[:60], wantErr: ErrSDP},
		{name: "too big", answer: sippAnswer + strings.Repeat("a=x\r\n", maxSDP/5), wantErr: ErrSDP},
	}
	e, _ := newEngine(t, testConfig())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, e)
			err := s.SetAnswer([]byte(tc.answer))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("SetAnswer: %v, want %v", err, tc.wantErr)
				}
				if _, ok := s.Negotiated(); ok {
					t.Fatal("negotiated after an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n, ok := s.Negotiated()
			if !ok || n != tc.want {
				t.Fatalf("negotiated %+v, want %+v", n, tc.want)
			}
			s.Start()
			if s.rx.latching != tc.latch {
				t.Errorf("latching = %v, want %v", s.rx.latching, tc.latch)
			}
			for _, pt := range tc.recvPT {
				if s.rx.kinds[pt] == kindNone {
					t.Errorf("payload type %d not accepted", pt)
				}
			}
			if err := s.SetAnswer([]byte(tc.answer)); !errors.Is(err, ErrNegotiated) {
				t.Errorf("second SetAnswer: %v, want ErrNegotiated", err)
			}
		})
	}
}

func TestOffer(t *testing.T) {
	cfg := testConfig()
	cfg.AdvertiseIP = netip.MustParseAddr("198.51.100.7")
	cfg.EventPT = 100
	e, _ := newEngine(t, cfg)
	s := open(t, e)
	b, err := s.Offer()
	if err != nil {
		t.Fatal(err)
	}
	offer := string(b)
	port := s.LocalAddr().Port()
	for _, line := range []string{
		"c=IN IP4 198.51.100.7",
		"m=audio " + strconv.Itoa(int(port)) + " RTP/AVP 0 8 100",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:100 telephone-event/8000",
		"a=fmtp:100 0-16",
		"a=ptime:20",
		"a=sendrecv",
	} {
		if !strings.Contains(offer, line+"\r\n") {
			t.Errorf("offer lacks %q:\n%s", line, offer)
		}
	}
	again, _ := s.Offer()
	if string(again) != offer {
		t.Error("a second Offer differs")
	}
	// Our own offer parses as an offer: the softphone answers it.
	phone := open(t, e)
	answer, err := phone.AcceptOffer(b)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := phone.Negotiated(); n.Codec != PCMU || n.EventPT != 100 || n.Remote != netip.AddrPortFrom(cfg.AdvertiseIP, port) {
		t.Fatalf("phone negotiated %+v", n)
	}
	if err := s.SetAnswer(answer); err != nil {
		t.Fatalf("SetAnswer(the phone's answer): %v\n%s", err, answer)
	}
	if n, _ := s.Negotiated(); n.Codec != PCMU || n.EventPT != 100 {
		t.Fatalf("negotiated %+v", n)
	}
}

func TestAcceptOffer(t *testing.T) {
	cases := []struct {
		name    string
		offer   string
		codec   Codec
		event   uint8
		lines   []string
		wantErr error
	}{
		{name: "pcma first, event 96",
			offer: string(sdpBody(netip.MustParseAddrPort("127.0.0.1:5004"), "8 0 96", "rtpmap:96 telephone-event/8000")),
			codec: PCMA, event: 96,
			lines: []string{"RTP/AVP 8 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16"}},
		{name: "g729 then pcmu, no events",
			offer: string(sdpBody(netip.MustParseAddrPort("127.0.0.1:5004"), "18 0", "rtpmap:18 G729/8000")),
			codec: PCMU, lines: []string{"RTP/AVP 0\r\n"}},
		{name: "no g711",
			offer:   string(sdpBody(netip.MustParseAddrPort("127.0.0.1:5004"), "18", "rtpmap:18 G729/8000")),
			wantErr: ErrNoCodec},
		{name: "malformed", offer: "v=0\r\nbogus\r\n", wantErr: ErrSDP},
	}
	e, _ := newEngine(t, testConfig())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, e)
			answer, err := s.AcceptOffer([]byte(tc.offer))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("AcceptOffer: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n, _ := s.Negotiated()
			if n.Codec != tc.codec || n.EventPT != tc.event {
				t.Fatalf("negotiated %+v, want %v and event %d", n, tc.codec, tc.event)
			}
			for _, l := range tc.lines {
				if !strings.Contains(string(answer), l) {
					t.Errorf("answer lacks %q:\n%s", l, answer)
				}
			}
			if _, err := s.AcceptOffer([]byte(tc.offer)); !errors.Is(err, ErrNegotiated) {
				t.Errorf("second AcceptOffer: %v, want ErrNegotiated", err)
			}
		})
	}
}
