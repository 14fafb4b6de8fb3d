// Package media is the RTP side of a verification call: a UDP port pool,
// the SDP offer/answer (G.711 and RFC 4733 telephone-event), a receive
// goroutine per call that checks the source, demultiplexes by payload type
// and feeds package dtmf, and paced sending of prompts and digits.
//
// The SIP layer (package sip) drives it; this package knows nothing of SIP:
//
//	eng, _ := media.NewEngine(cfg, reg) // once: port pool, metrics, pacer
//	s, _ := eng.Open()                  // per call: binds an even port
//	defer s.Close()
//	offer, _ := s.Offer()               // INVITE body
//	err := s.SetAnswer(answerSDP)       // the first SDP of a 18x/200
//	s.SetPeerIP(signallingPeer)         // optional, for latching
//	s.Start()
//	go s.Play(ctx, prompt, dtmf.EncodingPCM16) // cancel ctx on barge-in
//	for d := range s.Digits() { ... }   // RFC 4733, in-band and INFO keys
//	// s.Done() closes on Close or ErrMediaTimeout (s.Err()).
//
// The answering role (AcceptOffer, SendDigits) serves the test softphone
// and the demo phone.
//
// # Receiving
//
// One goroutine per session reads the socket into a reused buffer and hands
// each datagram to handle, which checks the source, parses the header into
// a reused rtp.Packet and switches on the payload type: G.711 is decoded
// by table into a reused buffer and fed to a dtmf.Detector, telephone-event
// packets to a dtmf.Receiver, comfort noise (13) is counted, anything else
// is dropped. Nothing is allocated and nothing is logged per packet; the
// socket's read deadline (the earlier of the inactivity deadline and the
// RFC 4733 receiver's) is moved only when a key starts or a deadline
// expires, not per packet.
//
// Security: a key counts only from the far end's negotiated media source.
// With a usable SDP address, packets from any other address or port are
// dropped before they are parsed (reason "source"). When the SDP gives no
// usable address (missing, 0.0.0.0, ::, a host name) or Config.Latch is
// set, the session latches: the first packet that parses as RTP v2 with a
// negotiated audio or event payload type (and comes from the signalling
// peer's IP, if SetPeerIP was called) fixes the source, and frames are sent
// back to it (symmetric RTP). Latching without SetPeerIP trusts whoever
// speaks first, which is why it is not the default when the SDP address is
// usable. RTP still arriving from the previous call on a reused port is
// dropped like any other foreign source (though a latching session could
// latch onto it if it came first); the port pool rotates so that a port is
// reused as late as possible.
//
// # Merging the three methods
//
// A key reaches the call by up to three paths at once (gateways often send
// RFC 4733 events and leave the tone in the audio; some also send INFO).
// Digits delivers each press once:
//
//   - a key is suppressed if the same key arrived by another method within
//     200 ms (the window is measured from each arrival, suppressed ones
//     included);
//   - after the first RFC 4733 event of a session, in-band detection is
//     switched off for the rest of the session.
//
// What it costs. CPU: delivering a digit takes a mutex and a look at three
// timestamps, 45 ns (BenchmarkEmit), per digit, not per packet; switching
// the detector off makes an audio packet cost 27 ns instead of 190-450 ns
// (BenchmarkHandle). Behaviour: two genuine presses of one key less than
// 200 ms apart by different methods count once (Q.24 allows 10 keys a
// second, 100 ms each, so only a sender mixing methods key by key could
// hit this); and if a peer sends events and later stops (a transfer to a
// gateway without RFC 4733), its in-band keys are no longer heard. Keys
// arrive when they start: the event's first packet, or the detector's
// confirmation (about 40 ms into the tone), so a tone reported in-band
// first suppresses the event that follows.
//
// # Sending
//
// Each session has one random SSRC, sequence number and timestamp origin
// (RFC 3550) for audio and events. Frames are 20 ms (160 samples), their
// timestamps advance by 160 within a talkspurt; the first packet of a
// talkspurt carries the marker bit, and its timestamp is the session's
// 8 kHz clock, which runs whether or not anything is sent, so a pause shows
// as a timestamp gap. A Play that follows another without a pause continues
// its talkspurt. Headers are written with rtp.Header.MarshalTo into a
// reused buffer (no Packetizer, which allocates and marks every packet).
// Frames leave at absolute deadlines (start + k·20 ms), so there is no
// drift; a sender more than 100 ms behind re-anchors rather than bursts.
//
// # Pacing: per-call timers or a shared pacer
//
// Both are implemented (Config.Pacing). Per call, Play sleeps on its
// session's timer until each deadline and writes the frame itself: 50
// goroutine wake-ups a second per call. Shared, Play encodes up to 8 frames
// ahead into a ring and one pacer goroutine per processor (sessions are
// spread by port) keeps the playing sessions in a heap by deadline, wakes
// once for every frame due within 1 ms and writes them; Play wakes only to
// refill, every 4 frames. BenchmarkPacing (1000 sessions on loopback, 3 s
// each, CPU time from getrusage, 2-core AMD EPYC shared with other work,
// medians of several runs):
//
//	                         per-call       shared
//	pacing only ("dry")      3.4 µs/frame   1.9 µs/frame
//	with sendto, 1000 calls  8.2 µs/frame   7.6 µs/frame  (0.41 vs 0.38 ms CPU per call-second)
//	with sendto, 3000 calls  8.5 µs/frame   7.4 µs/frame  (0.43 vs 0.37 ms CPU per call-second)
//
// The shared pacer halves the cost of pacing itself and saves 7-13 % in
// all, so it is the default (PacingDefault). The sendto system call
// (BenchmarkWrite: 4-6 µs) dominates either way; batching writes
// (sendmmsg) is the next step if thousands of calls must share a core, and
// the shared pacer is where it would go. Frames may leave up to 1 ms early
// with the shared pacer; Stats.Underruns counts the 20 ms slots it found
// no frame for (an audio reader too slow to keep 80 ms ahead).
package media
