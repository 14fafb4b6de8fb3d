// Package ivr runs the verification call: what the person hears, which
// keys they may press, how long the call waits, and what the result
// means.
//
// It sits on top of the call path without importing it: it declares the
// little it needs of a call ([Call]: play audio, read keys, hang up) and
// of a way to place one ([Dialer]), and cmd adapts package sip to them.
// [Verifier.Verify] dials, runs the conversation of the request's
// [Mode], hangs up, and returns one [Outcome] whose [Result] comes from a
// closed set that the portal, the logs and the metrics share. While the
// call runs it reports its progress as an [Event] at each step (dialing,
// ringing, answered, a key, the result) for the page's live status.
//
// # Modes
//
// Every call begins with the intro, the mode's question and the fraud hint
// ("if you did not request this, press zero").
//
//   - match (the default): the page shows a short number ([NewMatch]);
//     the person keys it, then #. Pressing # alone, to make an unwanted
//     call stop, does not pass.
//   - confirm: the person presses #.
//   - pin: the person keys their PIN, then #. [Request.CheckPIN] checks it;
//     the verifier never sees the stored hash.
//   - code: "to hear your code, press pound"; on # the call reads the
//     one-time code ([NewCode]) digit by digit, twice, then offers * to
//     hear it again; the person types it into the page. The code is never
//     played before #, so an answering machine never records it.
//
// # The conversation
//
// An entry is the keys pressed up to #. It also ends after
// [Config.InterDigitTimeout] without a key, or at [Config.MaxEntry] keys,
// and is then judged as it stands: a complete entry passes, an incomplete
// one is wrong.
//
//   - Barge-in: a key pressed during a prompt stops it and counts as input.
//   - Fraud: 0 as the first key of an entry means "I did not request
//     this": the call thanks the person, says goodbye and ends with
//     FraudReported. In pin mode, where a PIN may begin with 0, only an
//     entry of 0 alone counts ("0#", or 0 followed by the inter-digit
//     pause). In code mode, 0 while the code is read or after it also
//     reports fraud, and the portal must then void the code.
//   - Repeat: * repeats the question (or, in code mode, the code), up to
//     [Config.Repeats] times a call; the keys before it are discarded.
//     Once the repeats are used up, * is an ordinary, wrong, key.
//   - Timeouts and retries: no key within [Config.FirstKeyTimeout] after
//     the question plays "we did not receive your answer" and asks again;
//     a wrong entry plays "sorry, that is not right, please try again".
//     Each uses one of [Request.Attempts]; when the last is used the call
//     ends with WrongInput if any entry was wrong, NoInput if all were
//     silence.
//   - Results: each has its closing prompt (confirmed, code done, fraud,
//     not right, no input) and goodbye, played to the end without
//     barge-in; the call is then hung up. The result is known, and
//     reported as the Finished event, before that prompt; hanging up
//     during it does not change it. In code mode the result is
//     CodeDelivered as soon as the code has been read once in full:
//     while it is read, keys other than * and 0 are ignored, and after it
//     a silence or another key ends the call.
//   - The call ending by itself before the result is known gives the
//     call's own end: HungUp or MediaTimeout. A cancelled context gives
//     Failed; a failed dial gives the [DialError]'s result and SIP status.
//
// # Secrets
//
// Keys, PINs and codes are never logged, nor put in events, metrics or
// the outcome (which counts keys, never says which). Phone numbers are
// logged masked ([MaskNumber]); a [Request] redacts itself when logged or
// printed.
package ivr
