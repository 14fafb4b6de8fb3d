package siptest

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

//go:embed testdata/*.tmpl
var templates embed.FS

// Mode is the behaviour of a SIPp callee.
type Mode string

// The modes of a SIPp callee. Every answering mode sends its 200 OK with
// SDP (one audio codec, plus telephone-event unless stated), copies the
// INVITE's Record-Route (so calls through Kamailio work), answers in-dialog
// OPTIONS, INFO and UPDATE with 200, sends RTP from its media port to the
// c=/m= address of the caller's offer, waits for the caller's BYE and
// answers it 200. A CANCEL while it rings gets 200 and 487.
const (
	// DTMF answers (100, 180, 200), then presses UAS.Digits as RFC 4733
	// telephone-events inside a PCMU stream.
	DTMF Mode = "dtmf"
	// Inband answers with no telephone-event in its SDP and plays the
	// digits as in-band tones inside the PCMU audio.
	Inband Mode = "inband"
	// Info answers, streams PCMU silence and sends each digit as an
	// in-dialog SIP INFO (application/dtmf-relay, "Signal=5" and
	// "Duration=200"), one per key, waiting for each 200.
	Info Mode = "info"
	// Busy rings, then rejects with 486 Busy Here.
	Busy Mode = "busy"
	// Decline rings, then rejects with 603 Decline.
	Decline Mode = "decline"
	// NoAnswer rings (180) until the caller cancels (200 + 487); after
	// UAS.CallTimeout it gives up with 480 Temporarily Unavailable.
	NoAnswer Mode = "noanswer"
	// Silent answers and sends no RTP at all, so only the caller's media
	// timeout (or its own hangup) ends the call.
	Silent Mode = "silent"
	// Bye answers, streams PCMU silence, and hangs up itself (BYE)
	// UAS.ByeAfter after the ACK.
	Bye Mode = "bye"
	// Early answers 183 Session Progress with SDP and plays ringback
	// (440 + 480 Hz) as early media for UAS.EarlyMedia, then 200 OK with
	// the same SDP and the same RTP stream, then the digits as
	// telephone-events.
	Early Mode = "early"
	// PCMA answers with PCMA only (plus telephone-event) and sends A-law
	// audio and the digits as telephone-events; an offer without PCMA gets
	// 488 Not Acceptable Here.
	PCMA Mode = "pcma"
	// Auth challenges the INVITE with 401 (WWW-Authenticate, digest MD5,
	// realm Realm, no qop), checks the retried INVITE's Authorization
	// against UAS.Username and UAS.Password (403 if wrong), then behaves
	// as DTMF.
	Auth Mode = "auth"
	// Echo answers and sends back every RTP packet it receives, to where
	// it came from (SIPp's -rtp_echo): the caller compares what returns
	// with what it sent. SIPp 3.6.1 cannot record audio.
	Echo Mode = "echo"
)

// Realm is the digest realm of the Auth callee and of Kamailio.
const Realm = "example.test"

// Defaults of UAS.
const (
	DefaultDigits        = "#"
	DefaultDelay         = time.Second
	DefaultDigitDuration = 200 * time.Millisecond
	DefaultGap           = 300 * time.Millisecond
	DefaultRing          = 300 * time.Millisecond
	DefaultEarlyMedia    = time.Second
	DefaultByeAfter      = 2 * time.Second
	DefaultCallTimeout   = 30 * time.Second
	DefaultUsername      = "caller"
	DefaultPassword      = "Caller-Secret-1"
)

// UAS describes a SIPp callee. The zero value is a DTMF callee pressing "#".
type UAS struct {
	// Mode is the behaviour. Zero means DTMF.
	Mode Mode
	// Digits are the keys pressed by the DTMF, Inband, Info, Early, PCMA
	// and Auth modes, from "0123456789*#ABCD". Empty means "#".
	Digits string
	// User is the user part of URI and of the callee's Contact; any
	// Request-URI is answered. Empty means the mode's name.
	User string
	// EventPT is the telephone-event payload type the callee answers
	// with and sends, 96-127. Zero means the one the caller offered
	// (96-127; 101 if the offer has none).
	EventPT uint8
	// Delay is the time from the ACK to the first key (or first INFO).
	// Zero means DefaultDelay.
	Delay time.Duration
	// DigitDuration is how long each key is held (the INFO's Duration).
	// Zero means DefaultDigitDuration. It must be a multiple of 20 ms.
	DigitDuration time.Duration
	// Gap is the silence after each key. Zero means DefaultGap.
	Gap time.Duration
	// Ring is how long the callee rings (180) before it answers or
	// rejects; a CANCEL is honoured meanwhile. Zero means DefaultRing;
	// negative means the final response follows the 180 at once.
	Ring time.Duration
	// EarlyMedia is how long the Early callee plays early media before
	// its 200 OK. Zero means DefaultEarlyMedia.
	EarlyMedia time.Duration
	// ByeAfter is how long after the ACK the Bye callee hangs up. Zero
	// means DefaultByeAfter.
	ByeAfter time.Duration
	// CallTimeout is how long an answered callee waits for the caller's
	// BYE once it has sent its keys before it hangs up itself, and how
	// long NoAnswer rings. Zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// Username and Password are the credentials the Auth callee accepts.
	// Empty mean DefaultUsername and DefaultPassword.
	Username, Password string
	// Sparse makes the DTMF callee send its telephone-events alone, with
	// no audio around them: SIPp plays each call's media from a thread
	// of its own, and a continuous stream for thousands of calls at once
	// costs SIPp more CPU than a 2-core machine has. Load tests use it.
	Sparse bool
}

// SIPpPeer is a running SIPp callee. It serves any number of calls, one
// after the other or at the same time, until the test ends.
type SIPpPeer struct {
	// URI is the callee's SIP URI, sip:USER@127.0.0.1:PORT (UDP).
	URI string
	// Addr is its SIP address, 127.0.0.1:PORT (UDP only).
	Addr string
	// MediaAddr is the address its RTP comes from and its SDP announces.
	MediaAddr string
	// Digits are the keys the callee presses (empty for the modes that
	// press none).
	Digits string
	// EventPT is the telephone-event payload type it answers with, or 0
	// when it echoes the caller's offer.
	EventPT uint8

	dir  string
	proc *proc
}

// The files of a SIPp callee, in its directory.
const (
	sippScenario = "scenario.xml"
	sippMessages = "messages.log"
	sippErrors   = "errors.log"
	sippActions  = "actions.log"
	sippStats    = "stats.csv"
	sippScreen   = "screen.log"
	sippOutput   = "sipp.log"
)

// SIPp starts a SIPp callee on free loopback ports and returns once it
// listens. The test fails if sipp is missing (run `make test-deps`), if
// cfg is invalid, or if SIPp does not start; SIPp is stopped by its PID
// when the test ends, and its logs are printed if the test failed.
//
// Media is played with SIPp's play_pcap_audio from pcap files generated
// here (dtmf.Sender for the telephone-events, dtmf.AppendTones and G.711
// for tones), which needs root or CAP_NET_RAW. For the modes that echo the
// caller's telephone-event payload type one pcap per type 96-127 is
// written and the scenario plays the one that matches the offer.
//
// Ports: a PortBlock; SIP on its first port, SIPp's control socket on the
// second, RTP on the fifth (SIPp also binds the seventh).
func SIPp(t testing.TB, cfg UAS) *SIPpPeer {
	t.Helper()
	sc, err := cfg.scenario()
	if err != nil {
		t.Fatalf("siptest: UAS: %v", err)
	}
	path := lookBinary(t, "sipp", "/usr/bin/sipp", "sip-tester")
	if sc.plays() && os.Geteuid() != 0 {
		t.Fatalf("siptest: SIPp mode %s plays RTP from a pcap, which needs a raw socket: run the tests as root", sc.Mode)
	}
	base := PortBlock(t)
	sipPort, ctrlPort, mediaPort := base, base+1, base+4
	dir := t.TempDir()
	sc.Dir = dir
	// SIPp runs in dir: the scenario names its pcaps relative to it, so
	// that no path needs quoting in the XML.
	if err := sc.writeMedia(cfg); err != nil {
		t.Fatalf("siptest: SIPp media: %v", err)
	}
	if err := sc.write(filepath.Join(dir, sippScenario)); err != nil {
		t.Fatalf("siptest: SIPp scenario: %v", err)
	}
	p := &SIPpPeer{
		URI:       fmt.Sprintf("sip:%s@%s", sc.User, hostPort(sipPort)),
		Addr:      hostPort(sipPort),
		MediaAddr: hostPort(mediaPort),
		Digits:    sc.digits,
		EventPT:   cfg.EventPT,
		dir:       dir,
	}
	var extra []string
	if sc.Mode == Echo {
		extra = append(extra, "-rtp_echo")
	}
	p.run(t, path, sc.Mode, sipPort, ctrlPort, mediaPort, extra...)
	return p
}

// run starts SIPp on the scenario in p's directory, with its traces
// there, and waits until it listens; extra are more arguments.
func (p *SIPpPeer) run(t testing.TB, path string, mode Mode, sipPort, ctrlPort, mediaPort int, extra ...string) {
	t.Helper()
	args := []string{
		"-sf", sippScenario,
		"-i", loopback, "-p", strconv.Itoa(sipPort),
		"-mi", loopback, "-mp", strconv.Itoa(mediaPort),
		"-ci", loopback, "-cp", strconv.Itoa(ctrlPort),
		// -aa: answer in-dialog INFO, OPTIONS, UPDATE with 200;
		// -pause_msg_ign: a late response (the 200 to an INFO crossing
		// the caller's BYE) during the final timewait is no failure.
		"-nostdin", "-aa", "-pause_msg_ign",
		"-trace_msg", "-message_file", sippMessages,
		"-trace_err", "-error_file", sippErrors,
		"-trace_logs", "-log_file", sippActions,
		"-trace_stat", "-stf", sippStats, "-fd", "200ms",
		"-trace_screen", "-screen_file", sippScreen,
	}
	args = append(args, extra...)
	// SIPp's output is its screen: the statistics when it ends, or why
	// it did not start.
	logs := []string{filepath.Join(p.dir, sippErrors), filepath.Join(p.dir, sippMessages)}
	tailOnFailure(t, "SIPp "+string(mode), logs...)
	p.proc = start(t, "sipp", false, p.dir, filepath.Join(p.dir, sippOutput), path, args...)
	if err := p.proc.waitReady(bound("udp", sipPort)); err != nil {
		t.Fatalf("siptest: %v\n%s", err, logTails(append(logs, filepath.Join(p.dir, sippOutput))...))
	}
}

// Stop ends SIPp now (SIGTERM, then SIGKILL), so that its final statistics
// are written. The test's cleanup does it too; calling it twice is safe.
func (p *SIPpPeer) Stop() { p.proc.stop() }

// Dir is the directory of the scenario, pcaps and logs.
func (p *SIPpPeer) Dir() string { return p.dir }

// Messages returns SIPp's trace of the SIP messages it sent and received so
// far.
func (p *SIPpPeer) Messages() string {
	data, _ := os.ReadFile(filepath.Join(p.dir, sippMessages))
	return string(data)
}

// Errors returns SIPp's log of unexpected messages and failures. The ring
// and wait timeouts of the scenarios are logged there too: they are part
// of the script, not errors.
func (p *SIPpPeer) Errors() string {
	data, _ := os.ReadFile(filepath.Join(p.dir, sippErrors))
	return string(data)
}

// SIPpStats are SIPp's cumulative call counters.
type SIPpStats struct {
	// Created counts calls started (INVITEs received).
	Created int
	// Current counts calls in progress.
	Current int
	// Successful counts calls that ran to the end of the scenario: the
	// callee did what its mode says (a rejected or cancelled call
	// included).
	Successful int
	// Failed counts calls that did not (an unexpected message, a
	// retransmission timeout...).
	Failed int
	// Fields holds every column of SIPp's statistics line by name, e.g.
	// "FailedUnexpectedMessage(C)".
	Fields map[string]string
}

// errNoStats is returned by Stats before SIPp wrote its first line.
var errNoStats = errors.New("siptest: no SIPp statistics yet")

// Stats returns the latest statistics SIPp wrote: every 200 ms while it
// runs, and once more when it stops.
func (p *SIPpPeer) Stats() (SIPpStats, error) {
	data, err := os.ReadFile(filepath.Join(p.dir, sippStats))
	if err != nil {
		return SIPpStats{}, errNoStats
	}
	return parseStats(data)
}

// parseStats reads SIPp's statistics CSV: a header line, then one line per
// dump, fields separated by ';'.
func parseStats(data []byte) (SIPpStats, error) {
	var header, last string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case header == "":
			header = line
		default:
			last = line
		}
	}
	if last == "" {
		return SIPpStats{}, errNoStats
	}
	names := strings.Split(header, ";")
	values := strings.Split(last, ";")
	if len(values) < len(names)-1 {
		return SIPpStats{}, fmt.Errorf("siptest: SIPp statistics line has %d fields, header %d", len(values), len(names))
	}
	st := SIPpStats{Fields: make(map[string]string, len(names))}
	for i, n := range names {
		if n != "" && i < len(values) {
			st.Fields[n] = values[i]
		}
	}
	num := func(name string) int {
		v, _ := strconv.Atoi(st.Fields[name])
		return v
	}
	st.Created = num("TotalCallCreated")
	st.Current = num("CurrentCall")
	st.Successful = num("SuccessfulCall(C)")
	st.Failed = num("FailedCall(C)")
	return st, nil
}

// WaitCalls waits until n calls have ended (successfully or not) and none
// is in progress, and returns the statistics. SIPp writes them every
// 200 ms, so this takes up to 200 ms after the last call ended.
func (p *SIPpPeer) WaitCalls(ctx context.Context, n int) (SIPpStats, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := p.Stats()
		if err == nil && st.Successful+st.Failed >= n && st.Current == 0 {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("siptest: waiting for %d SIPp calls (stats %+v): %w", n, st, ctx.Err())
		case <-p.proc.done:
			// SIPp wrote its final statistics when it stopped.
			st, err = p.Stats()
			if err == nil && st.Successful+st.Failed >= n {
				return st, nil
			}
			return st, fmt.Errorf("siptest: SIPp exited after %d of %d calls", st.Successful+st.Failed, n)
		case <-tick.C:
		}
	}
}

// scenario is the data of the scenario templates.
type scenario struct {
	Mode Mode
	User string
	Dir  string // where the pcaps are written; SIPp runs there
	// Reject and NoAnswer.
	Code   int
	Reason string
	RingMS int // 0: no ring delay
	// Answering modes.
	Codec      string
	CodecPT    uint8
	CheckCodec bool // 488 unless the offer has Codec
	Events     bool // telephone-event in the SDP
	EchoPT     bool // answer with the offered telephone-event PT
	FixedPT    uint8
	PTs        []int // one main pcap per telephone-event PT
	MainMS     int   // length of main.pcap (or of each main-ptN.pcap)
	TailFirst  bool  // tail.pcap is the only media, from the ACK on
	// TailAfterMS: play tail.pcap this long after the main media started.
	TailAfterMS int
	EarlyMS     int
	Infos       []infoDigit
	DigitMS     int
	HangupMS    int // wait for the BYE this long, then send one
	ByeCSeq     int
	Auth        bool
	Realm       string
	Username    string
	Password    string

	digits string
}

// infoDigit is one INFO request of the Info callee.
type infoDigit struct {
	WaitMS int // after the ACK (first) or the previous INFO's 200
	Key    string
	CSeq   int
}

// plays reports whether SIPp plays pcaps in this scenario.
func (s *scenario) plays() bool {
	switch s.Mode {
	case Busy, Decline, NoAnswer, Silent, Echo:
		return false
	}
	return true
}

// template returns the name of the scenario's template file.
func (s *scenario) template() string {
	switch s.Mode {
	case Busy, Decline:
		return "sipp-reject.xml.tmpl"
	case NoAnswer:
		return "sipp-noanswer.xml.tmpl"
	}
	return "sipp-answer.xml.tmpl"
}

// write renders the scenario to path.
func (s *scenario) write(path string) error {
	tpl, err := template.ParseFS(templates, "testdata/sipp-common.tmpl", "testdata/"+s.template())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, s.template(), s); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// ms returns d in whole milliseconds.
func ms(d time.Duration) int { return int(d / time.Millisecond) }

// or returns d, or def if d is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// scenario validates cfg and returns the data of its scenario template.
func (c UAS) scenario() (*scenario, error) {
	mode := or(c.Mode, DTMF)
	s := &scenario{
		Mode:     mode,
		User:     or(c.User, string(mode)),
		Codec:    "PCMU",
		CodecPT:  ptPCMU,
		Events:   true,
		Realm:    Realm,
		Username: or(c.Username, DefaultUsername),
		Password: or(c.Password, DefaultPassword),
		DigitMS:  ms(or(c.DigitDuration, DefaultDigitDuration)),
		HangupMS: ms(or(c.CallTimeout, DefaultCallTimeout)),
		ByeCSeq:  1,
	}
	switch mode {
	case DTMF, Inband, Info, Busy, Decline, NoAnswer, Silent, Bye, Early, PCMA, Auth, Echo:
	default:
		return nil, fmt.Errorf("unknown Mode %q", c.Mode)
	}
	if strings.ContainsAny(s.User, "@:;<>\" \r\n") {
		return nil, fmt.Errorf("User %q is not a plain SIP user part", c.User)
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"Username", s.Username}, {"Password", s.Password}} {
		if strings.ContainsAny(f.v, "\"<>&\r\n") {
			return nil, fmt.Errorf("%s contains a character the scenario cannot hold", f.name)
		}
	}
	if c.EventPT != 0 && (c.EventPT < 96 || c.EventPT > 127) {
		return nil, fmt.Errorf("EventPT %d is not a dynamic payload type (96-127)", c.EventPT)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Delay", c.Delay}, {"DigitDuration", c.DigitDuration}, {"Gap", c.Gap}, {"EarlyMedia", c.EarlyMedia},
		{"ByeAfter", c.ByeAfter}, {"CallTimeout", c.CallTimeout}} {
		if f.v < 0 {
			return nil, fmt.Errorf("%s %v is negative", f.name, f.v)
		}
	}
	if d := or(c.DigitDuration, DefaultDigitDuration); d%frameTime != 0 {
		return nil, fmt.Errorf("DigitDuration %v is not a multiple of 20 ms", d)
	}
	switch {
	case c.Ring < 0:
		s.RingMS = 0
	default:
		s.RingMS = ms(or(c.Ring, DefaultRing))
	}
	switch mode {
	case DTMF, Inband, Info, Early, PCMA, Auth:
		s.digits = or(c.Digits, DefaultDigits)
		for i := 0; i < len(s.digits); i++ {
			if !dtmf.ValidKey(s.digits[i]) {
				return nil, fmt.Errorf("Digits %q: %q is not a DTMF key", s.digits, s.digits[i])
			}
		}
	}
	s.EchoPT = c.EventPT == 0
	s.FixedPT = c.EventPT
	switch mode {
	case Busy:
		s.Code, s.Reason = 486, "Busy Here"
	case Decline:
		s.Code, s.Reason = 603, "Decline"
	case NoAnswer:
		s.Code, s.Reason = 480, "Temporarily Unavailable"
	case Inband:
		s.Events, s.EchoPT = false, false
	case PCMA:
		s.Codec, s.CodecPT, s.CheckCodec = "PCMA", ptPCMA, true
	case Auth:
		s.Auth = true
	case Early:
		s.EarlyMS = ms(or(c.EarlyMedia, DefaultEarlyMedia))
	case Bye:
		s.HangupMS = ms(or(c.ByeAfter, DefaultByeAfter))
	case Info:
		delay, step := or(c.Delay, DefaultDelay), or(c.DigitDuration, DefaultDigitDuration)+or(c.Gap, DefaultGap)
		for i := 0; i < len(s.digits); i++ {
			wait := ms(step)
			if i == 0 {
				wait = ms(delay)
			}
			s.Infos = append(s.Infos, infoDigit{WaitMS: wait, Key: s.digits[i : i+1], CSeq: i + 1})
		}
		s.ByeCSeq = len(s.Infos) + 1
	}
	return s, nil
}

// pcapSlack separates two pcaps played one after the other: the second
// starts this long after the first one's last packet was due, so that a
// late playback thread is not cut short (the stream then shows the pause
// as jitter; sequence numbers and timestamps go on without a gap).
const pcapSlack = 60 * time.Millisecond

// writeMedia writes the scenario's pcaps into s.Dir and sets the media
// fields of s.
func (s *scenario) writeMedia(c UAS) error {
	codec := codecPCMU
	if s.Mode == PCMA {
		codec = codecPCMA
	}
	st := newStream(codec)
	delay := or(c.Delay, DefaultDelay)
	digit := or(c.DigitDuration, DefaultDigitDuration)
	gap := or(c.Gap, DefaultGap)
	tail := func(d time.Duration) error {
		st.file()
		st.silence(d)
		return writePcap(filepath.Join(s.Dir, "tail.pcap"), st.pkts)
	}
	switch s.Mode {
	case Busy, Decline, NoAnswer, Silent, Echo:
		return nil
	case Bye:
		st.silence(or(c.ByeAfter, DefaultByeAfter))
		s.MainMS = len(st.pkts) * ms(frameTime)
		return writePcap(filepath.Join(s.Dir, "main.pcap"), st.pkts)
	case Info:
		s.TailFirst = true
		total := delay + time.Duration(len(s.digits))*(digit+gap) + time.Duration(s.HangupMS)*time.Millisecond + 2*time.Second
		return tail(total)
	case Inband:
		st.silence(delay)
		for i := 0; i < len(s.digits); i++ {
			if err := st.tones(s.digits[i], digit); err != nil {
				return err
			}
			st.silence(gap)
		}
		s.MainMS = len(st.pkts) * ms(frameTime)
		s.TailAfterMS = s.MainMS + ms(pcapSlack)
		if err := writePcap(filepath.Join(s.Dir, "main.pcap"), st.pkts); err != nil {
			return err
		}
		return tail(time.Duration(s.HangupMS) * time.Millisecond)
	}
	// DTMF, Early, PCMA, Auth: telephone-events.
	if s.Mode == Early {
		// The ringback ends a little before the 200 OK, so that the
		// 200's media never cuts it short (SIPp stops the pcap playing
		// when it starts the next).
		st.ringback(max(time.Duration(s.EarlyMS)*time.Millisecond-pcapSlack, frameTime))
		if err := writePcap(filepath.Join(s.Dir, "early.pcap"), st.pkts); err != nil {
			return err
		}
		st.file()
	}
	pts := []int{int(c.EventPT)}
	if c.EventPT == 0 {
		pts = pts[:0]
		for pt := 96; pt <= 127; pt++ {
			pts = append(pts, pt)
		}
	}
	var after rtpStream
	for _, pt := range pts {
		fork := st
		pause := fork.silence
		if c.Sparse {
			// SIPp plays a pcap from its first packet: one frame of
			// silence marks the start, then nothing until the keys.
			fork.silence(frameTime)
			pause = fork.skip
			pause(delay - frameTime)
		} else {
			pause(delay)
		}
		for i := 0; i < len(s.digits); i++ {
			if err := fork.event(s.digits[i], digit, uint8(pt)); err != nil {
				return err
			}
			pause(gap)
		}
		name := "main.pcap"
		if s.EchoPT {
			name = fmt.Sprintf("main-pt%d.pcap", pt)
		}
		if err := writePcap(filepath.Join(s.Dir, name), fork.pkts); err != nil {
			return err
		}
		after = fork
	}
	if s.EchoPT {
		s.PTs = pts
	}
	s.MainMS = int(after.at / time.Millisecond)
	s.TailAfterMS = s.MainMS + ms(pcapSlack)
	st = after
	if c.Sparse {
		return tail(frameTime)
	}
	return tail(time.Duration(s.HangupMS) * time.Millisecond)
}
