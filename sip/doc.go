// Package sip is sspr's SIP user agent: it places the verification call
// through the organisation's SIP trunk or PBX and hands the call's media,
// with its digit stream, to the caller of [Agent.Dial].
//
// It is built on github.com/emiago/sipgo (imported as sipgo, its message
// package as sipmsg; only this package imports them). The agent:
//
//   - places calls through one or more trunks, tried in order when one
//     answers 503, times out or cannot be reached, over UDP, TCP or TLS,
//     directly or through an outbound proxy, answering 401 and 407
//     challenges;
//   - lets the phone ring until a timeout, then sends CANCEL, and copes
//     with a 200 OK that crosses the CANCEL (ACK, then BYE);
//   - classifies every failure into one [Outcome];
//   - takes SIP INFO digits and far-end BYEs for the calls it placed,
//     answers re-INVITEs with its current SDP, answers OPTIONS, and
//     declines every INVITE that does not belong to one of its calls:
//     the service never answers calls;
//   - keeps each trunk's health with OPTIONS, and its registration, where
//     configured, with REGISTER.
//
// Requests leave from the listening socket, so trunks see one address for
// every request of a call.
package sip
