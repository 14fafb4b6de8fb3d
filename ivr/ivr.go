package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// Call is what a verification needs of an answered call. cmd adapts
// *sip.Call to it.
type Call interface {
	// Play sends audio (8 kHz PCM16 little-endian or G.711, as enc says)
	// to the far end in real time. It returns nil when the audio has
	// played, ctx.Err() when ctx is cancelled (Verify cancels it on
	// barge-in), and an error when the call ends. Verify runs one Play at
	// a time.
	Play(ctx context.Context, audio io.Reader, enc dtmf.Encoding) error
	// Keys delivers the keys the far end presses, each once, whatever
	// way they arrive. It is closed when the call ends.
	Keys() <-chan Key
	// Hangup ends the call and waits, within ctx, for it to be gone.
	// Hanging up a call that has ended does nothing.
	Hangup(ctx context.Context) error
	// End says how the call ended by itself, once Keys is closed:
	// HungUp, MediaTimeout, or Failed. Another value is taken as Failed.
	End() Result
}

// Key is a key pressed by the person called.
type Key struct {
	// Key is the DTMF key: '0'-'9', '*', '#' or 'A'-'D'.
	Key byte
	// At is when the key was heard.
	At time.Time
	// Method is how it arrived: "rfc4733", "inband" or "info". It labels
	// a metric; any other value is counted as "other".
	Method string
}

// Dialer places calls. cmd adapts sip.Agent to it.
type Dialer interface {
	// Dial calls number and returns the call once answered. Cancelling
	// ctx abandons the call (a CANCEL while it rings). A call that is not
	// answered returns a *DialError. Dial may report Ringing through
	// progress, from one goroutine at a time and never after it
	// returns; Verify reports the other events itself and drops any
	// other kind the Dialer reports.
	Dial(ctx context.Context, number string, progress func(Event)) (Call, error)
}

// DialError is why a Dialer could not connect a call.
type DialError struct {
	// Result is NoAnswer, Busy, Rejected, Unreachable or Failed. Verify
	// takes any other value as Failed.
	Result Result
	// Status is the final SIP status received, or 0 when none was.
	Status int
	// Err is the underlying error, if any.
	Err error
}

func (e *DialError) Error() string {
	var b strings.Builder
	b.WriteString("ivr: dial: ")
	b.WriteString(string(e.Result))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DialError) Unwrap() error { return e.Err }

// Mode is how the person called shows that they asked for the reset.
type Mode string

// The verification modes. A gate's configuration picks one.
const (
	// ModeMatch (the default): the page shows a short number (see
	// NewMatch); the person keys it, then #. Someone pressing # only to
	// make an unwanted call stop does not pass.
	ModeMatch Mode = "match"
	// ModeConfirm: the person presses #.
	ModeConfirm Mode = "confirm"
	// ModePIN: the person keys the PIN chosen at registration, then #.
	ModePIN Mode = "pin"
	// ModeCode: after the person presses #, the call speaks a one-time
	// code (see NewCode) that they type into the page.
	ModeCode Mode = "code"
)

// Modes lists every mode, for metrics and configuration checks.
var Modes = []Mode{ModeMatch, ModeConfirm, ModePIN, ModeCode}

// ErrMode is returned, wrapped with the value, by ParseMode.
var ErrMode = errors.New("ivr: unknown mode")

// ParseMode returns the mode named s; "" is ModeMatch.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeMatch, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w %q (want match, confirm, pin or code)", ErrMode, s)
}

// Request is one verification call. It redacts itself in logs and when
// printed: only the mode, the language and the masked number show.
type Request struct {
	// Number is the E.164 number to call. It is never logged whole (see
	// MaskNumber).
	Number string
	// Mode is how the person confirms; "" is ModeMatch.
	Mode Mode
	// Language picks the prompts' language; "" is the prompts' default.
	Language string
	// Match is, in match mode, the digits shown on the page (NewMatch):
	// 1 to 16 digits from 1-9, since 0 is the fraud key.
	Match string
	// CheckPIN is, in pin mode, called with the digits keyed before #
	// and reports whether they are the person's PIN. The verifier never
	// sees the stored secret.
	CheckPIN func(pin string) bool
	// Code is, in code mode, the one-time code to speak (NewCode): 1 to
	// MaxCodeLength digits.
	Code string
	// Attempts is how many entries the person gets: a wrong entry or a
	// silence uses one, and the last one used ends the call with
	// WrongInput or NoInput. 0 means 3.
	Attempts int
	// Log, when set, replaces Config.Logger for this call, so that the
	// caller's fields (a reset ID) appear on its lines.
	Log *slog.Logger
}

// LogValue logs the request without its secrets.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", string(r.Mode)),
		slog.String("language", r.Language),
		slog.String("number", MaskNumber(r.Number)),
	)
}

// String describes the request without its secrets.
func (r Request) String() string {
	return fmt.Sprintf("ivr.Request{Mode:%s Language:%q Number:%s}", r.Mode, r.Language, MaskNumber(r.Number))
}

// GoString is String, so that %#v does not print the secrets either.
func (r Request) GoString() string { return r.String() }

// Outcome is how a verification ended.
type Outcome struct {
	// Result is the one word for it, from Results.
	Result Result
	// Status is the SIP status when known: the dial failure's final
	// status, or 200 for an answered call; 0 otherwise.
	Status int
	// Keys is how many keys the person pressed (never which).
	Keys int
	// Setup is the time from dialling to the answer; 0 if not answered.
	Setup time.Duration
	// KeyLatency is the time from the answer to the first key; 0 if no
	// key was pressed.
	KeyLatency time.Duration
	// Duration is the whole verification, from dialling to the end of
	// the hang-up.
	Duration time.Duration
	// Err is the cause of a Failed result (a *DialError, a request
	// error, a cancelled context, a broken prompt), or the *DialError of
	// any dial failure; nil otherwise.
	Err error
}

// EventKind is a step of a verification call, for the page's live
// status.
type EventKind string

// The steps, in the order they happen. KeyReceived happens once per key;
// every verification ends with exactly one Finished, even one that never
// dialled.
const (
	// Dialing: the call is being placed.
	Dialing EventKind = "dialing"
	// Ringing: the phone rings (reported by the Dialer, at most once).
	Ringing EventKind = "ringing"
	// Answered: the call was answered.
	Answered EventKind = "answered"
	// KeyReceived: the person pressed a key. The event does not say which.
	KeyReceived EventKind = "key"
	// Finished: the result is known (Event.Result). The result prompt
	// and the hang-up follow before Verify returns.
	Finished EventKind = "finished"
)

// Event is a step of a verification call.
type Event struct {
	// Kind is the step.
	Kind EventKind
	// At is when it happened.
	At time.Time
	// Result is the verification's result, for Finished only.
	Result Result
}

// Defaults of Config and Request, and limits.
const (
	// DefaultFirstKeyTimeout is the default Config.FirstKeyTimeout.
	DefaultFirstKeyTimeout = 10 * time.Second
	// DefaultInterDigitTimeout is the default Config.InterDigitTimeout.
	DefaultInterDigitTimeout = 5 * time.Second
	// DefaultMaxEntry is the default Config.MaxEntry.
	DefaultMaxEntry = 16
	// DefaultRepeats is the default Config.Repeats.
	DefaultRepeats = 3
	// DefaultHangupTimeout is the default Config.HangupTimeout.
	DefaultHangupTimeout = 5 * time.Second
	// DefaultAttempts is the default Request.Attempts.
	DefaultAttempts = 3
	// DefaultMatchLength is how many digits NewMatch returns.
	DefaultMatchLength = 2
	// DefaultCodeLength is the length NewCode(0) returns.
	DefaultCodeLength = 6
	// MaxCodeLength is the longest code the call speaks.
	MaxCodeLength = 16
)

// Config configures a Verifier. The zero value is the default for every
// field.
type Config struct {
	// Prompts are the recordings the person hears; nil means
	// DefaultPrompts().
	Prompts *Prompts
	// FirstKeyTimeout is how long the call waits, after a prompt ends,
	// for the first key of an entry (0: DefaultFirstKeyTimeout). Silence
	// for that long uses an attempt.
	FirstKeyTimeout time.Duration
	// InterDigitTimeout is how long the call waits for the next key of
	// an entry (0: DefaultInterDigitTimeout). The pause ends the entry as
	// # would.
	InterDigitTimeout time.Duration
	// MaxEntry is the most keys one entry holds (0: DefaultMaxEntry); a
	// longer one ends at that many keys, as # would.
	MaxEntry int
	// Repeats is how many times in one call * may repeat the prompt or
	// the code (0: DefaultRepeats). After that, * is an ordinary key.
	Repeats int
	// HangupTimeout bounds the hang-up at the end (0:
	// DefaultHangupTimeout).
	HangupTimeout time.Duration
	// Logger receives the verifier's logs (nil: none). Keys, PINs and
	// codes are never logged, and numbers only masked.
	Logger *slog.Logger
}

// MaskNumber returns a phone number fit for logs: "+***58" for
// "+442079460958", keeping the plus sign and the last two digits, and
// nothing of a number of fewer than 5 digits.
func MaskNumber(number string) string {
	prefix := ""
	if strings.HasPrefix(number, "+") {
		prefix = "+"
	}
	var digits []byte
	for i := 0; i < len(number); i++ {
		if c := number[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) < 5 {
		return prefix + "***"
	}
	return prefix + "***" + string(digits[len(digits)-2:])
}
