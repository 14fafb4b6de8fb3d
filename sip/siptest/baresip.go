package siptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// Defaults of BaresipConfig.
const (
	DefaultBaresipUser    = "phone"
	DefaultBaresipDelay   = 1500 * time.Millisecond
	DefaultBaresipGap     = 400 * time.Millisecond
	DefaultBaresipMaxCall = 60 * time.Second
)

// BaresipConfig describes a baresip phone that answers every call and then
// presses keys.
type BaresipConfig struct {
	// Digits are the keys pressed after each incoming call is established,
	// one ctrl_tcp "sndcode" command per key, sent by baresip as RFC 4733
	// telephone-events with the payload type of the caller's offer while
	// its (silent) PCMU audio keeps flowing. Empty means "#".
	Digits string
	// NoDigits makes the phone answer without pressing anything.
	NoDigits bool
	// Delay is the time from CALL_ESTABLISHED to the first key. Zero means
	// DefaultBaresipDelay.
	Delay time.Duration
	// Gap is the time between two keys' commands. Zero means
	// DefaultBaresipGap. baresip itself holds each key for about 200 ms.
	Gap time.Duration
	// User is the user part of the phone's address of record. Empty means
	// DefaultBaresipUser. Without a Registrar any Request-URI reaching
	// the phone's port is answered.
	User string
	// Registrar is the host:port of a registrar (a KamailioPeer's Addr)
	// to register User with, using Password; start then also waits for
	// the registration. Empty means the phone registers nowhere.
	Registrar string
	// Password is the digest password for Registrar.
	Password string
	// MaxCall bounds every call: the phone's audio source is a silent WAV
	// of this length, and baresip hangs up when it ends. Zero means
	// DefaultBaresipMaxCall.
	MaxCall time.Duration
}

// BaresipPeer is a running baresip and the driver that presses its keys
// through ctrl_tcp.
type BaresipPeer struct {
	// URI is the phone's SIP URI at its own address,
	// sip:USER@127.0.0.1:PORT (UDP; TCP too).
	URI string
	// Addr is its SIP address, 127.0.0.1:PORT.
	Addr string
	// CtrlAddr is its ctrl_tcp address; the peer holds the only
	// connection baresip allows, use Command.
	CtrlAddr string
	// Digits are the keys it presses after answering ("" if none).
	Digits string

	dir   string
	proc  *proc
	conn  net.Conn
	delay time.Duration
	gap   time.Duration

	wmu  sync.Mutex // serialises writes to conn
	mu   sync.Mutex
	evs  []BaresipEvent
	wake chan struct{}           // closed and replaced when an event or reply arrives
	reps map[string]baresipReply // replies by token
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	seq  int
}

// BaresipEvent is an event baresip reported on ctrl_tcp.
type BaresipEvent struct {
	// Type is the event, e.g. "CALL_INCOMING", "CALL_ESTABLISHED",
	// "CALL_CLOSED", "REGISTER_OK", "CALL_DTMF_START".
	Type string `json:"type"`
	// Class is "call", "register", "application"...
	Class string `json:"class"`
	// Direction is "incoming" or "outgoing" for call events.
	Direction string `json:"direction"`
	// PeerURI is the remote party of a call event.
	PeerURI string `json:"peeruri"`
	// Param is the event's parameter (the reason of CALL_CLOSED, the key
	// of CALL_DTMF_START...).
	Param string `json:"param"`
	// At is when the event arrived.
	At time.Time `json:"-"`
}

// baresipReply is ctrl_tcp's answer to a command.
type baresipReply struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// The files of a baresip peer, in its directory (which is also its
// configuration directory, -f).
const (
	baresipLog     = "baresip.log"
	baresipDriver  = "driver.log"
	baresipSilence = "silence.wav"
)

// Baresip starts baresip as an auto-answering phone on free loopback ports,
// with a driver that presses cfg.Digits after every incoming call is
// established, and returns once ctrl_tcp is connected (and, with a
// Registrar, once the registration succeeded). The test fails if baresip
// is missing (run `make test-deps`), if cfg is invalid, or if baresip does
// not start or register; baresip is stopped by its PID when the test ends,
// and its logs are printed if the test failed.
//
// The phone has no sound card: its source is a silent WAV (module aufile,
// paced in real time) and its player module aubridge's sink. baresip's own
// DNS client opens two unconnected UDP sockets on the wildcard address
// (there is no setting to bind them); they send only to 127.0.0.1:53, and
// only to resolve host names, which the tests never give it.
//
// Ports: a PortBlock; SIP (UDP and TCP) on its first port, baresip's SIP
// TLS listener on the second, ctrl_tcp on the third, RTP on the fifth to
// the last.
func Baresip(t testing.TB, cfg BaresipConfig) *BaresipPeer {
	t.Helper()
	user := or(cfg.User, DefaultBaresipUser)
	digits := or(cfg.Digits, DefaultDigits)
	if cfg.NoDigits {
		digits = ""
	}
	if err := cfg.validate(user, digits); err != nil {
		t.Fatalf("siptest: BaresipConfig: %v", err)
	}
	path := lookBinary(t, "baresip", "/usr/bin/baresip", "baresip-core")
	base := PortBlock(t)
	sipPort, ctrlPort := base, base+2
	dir := t.TempDir()
	if err := writeSilence(filepath.Join(dir, baresipSilence), or(cfg.MaxCall, DefaultBaresipMaxCall)); err != nil {
		t.Fatalf("siptest: baresip audio: %v", err)
	}
	conf := fmt.Sprintf(`# generated by package siptest
poll_method		epoll
sip_listen		%s
sip_trans_def		udp
net_interface		%s
dns_server		%s:53
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,sink
audio_source		aufile,%s
audio_alert		aubridge,alert
audio_srate		8000
audio_channels		1
rtp_ports		%d-%d
rtp_timeout		0
module_path		/usr/lib/baresip/modules
module			g711.so
module			aubridge.so
module			aufile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		%s
`, hostPort(sipPort), loopback, loopback, baresipSilence, base+4, base+BlockSize-1, hostPort(ctrlPort))
	// answermode=auto: answer every call; regint=0: never register.
	account := fmt.Sprintf("<sip:%s@%s>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n", user, hostPort(sipPort))
	if cfg.Registrar != "" {
		account = fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=600;answermode=auto;audio_codecs=PCMU,PCMA\n", user, cfg.Registrar, cfg.Password)
	}
	for name, content := range map[string]string{"config": conf, "accounts": account, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("siptest: baresip config: %v", err)
		}
	}
	p := &BaresipPeer{
		URI: fmt.Sprintf("sip:%s@%s", user, hostPort(sipPort)), Addr: hostPort(sipPort), CtrlAddr: hostPort(ctrlPort),
		Digits: digits, dir: dir, delay: or(cfg.Delay, DefaultBaresipDelay), gap: or(cfg.Gap, DefaultBaresipGap),
		wake: make(chan struct{}), reps: map[string]baresipReply{}, quit: make(chan struct{}),
	}
	logs := []string{filepath.Join(dir, baresipLog), filepath.Join(dir, baresipDriver)}
	tailOnFailure(t, "baresip", logs...)
	// baresip runs in dir, its configuration directory: the paths in the
	// configuration are relative to it.
	p.proc = start(t, "baresip", false, dir, logs[0], path, "-4", "-f", ".")
	ctrl := bound("tcp", ctrlPort)
	if err := p.proc.waitReady(ctrl); err != nil {
		t.Fatalf("siptest: %v\n%s", err, logTails(logs...))
	}
	conn, err := net.DialTimeout("tcp4", p.CtrlAddr, time.Second)
	if err != nil {
		t.Fatalf("siptest: baresip ctrl_tcp: %v\n%s", err, logTails(logs...))
	}
	p.conn = conn
	driverLog, err := os.Create(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go p.read(driverLog)
	t.Cleanup(p.close) // runs before the process's stop
	if cfg.Registrar != "" {
		if err := p.waitRegistered(); err != nil {
			t.Fatalf("siptest: baresip: %v\n%s", err, logTails(logs...))
		}
	}
	return p
}

// validate checks the configuration.
func (c BaresipConfig) validate(user, digits string) error {
	for i := 0; i < len(digits); i++ {
		if !dtmf.ValidKey(digits[i]) {
			return fmt.Errorf("Digits %q: %q is not a DTMF key", digits, digits[i])
		}
	}
	if strings.ContainsAny(user, "@:;<>\" \t\r\n") {
		return fmt.Errorf("User %q is not a plain SIP user part", user)
	}
	if c.Registrar != "" {
		if _, _, err := net.SplitHostPort(c.Registrar); err != nil {
			return fmt.Errorf("Registrar %q: %v", c.Registrar, err)
		}
		if c.Password == "" || strings.ContainsAny(c.Password, ";<>\" \t\r\n") {
			return errors.New("Password is empty or holds a character the account line cannot hold")
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Delay", c.Delay}, {"Gap", c.Gap}, {"MaxCall", c.MaxCall}} {
		if f.v < 0 {
			return fmt.Errorf("%s %v is negative", f.name, f.v)
		}
	}
	return nil
}

// writeSilence writes d of silence as an 8 kHz mono 16-bit WAV file.
func writeSilence(path string, d time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = dtmf.WriteWAV(w, make([]int16, dtmf.Samples(d)), dtmf.EncodingPCM16)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// read is the driver: it reads ctrl_tcp's netstrings, records events and
// replies, and presses the keys after each incoming call is established.
// It ends when the connection closes.
func (p *BaresipPeer) read(log io.WriteCloser) {
	defer p.wg.Done()
	defer log.Close()
	r := bufio.NewReader(p.conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			select {
			case <-p.quit:
			default:
				fmt.Fprintf(log, "%s ctrl_tcp: %v\n", stamp(), err)
			}
			return
		}
		fmt.Fprintf(log, "%s %s\n", stamp(), msg)
		var head struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &head) != nil {
			continue
		}
		switch {
		case head.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) != nil {
				continue
			}
			ev.At = time.Now()
			p.mu.Lock()
			p.evs = append(p.evs, ev)
			p.notify()
			p.mu.Unlock()
			if ev.Type == "CALL_ESTABLISHED" && ev.Direction == "incoming" && p.Digits != "" {
				p.wg.Add(1)
				go p.press(log)
			}
		case head.Response:
			var rep baresipReply
			if json.Unmarshal(msg, &rep) != nil {
				continue
			}
			p.mu.Lock()
			p.reps[rep.Token] = rep
			p.notify()
			p.mu.Unlock()
		}
	}
}

// notify wakes the waiters; p.mu is held.
func (p *BaresipPeer) notify() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// press sends one sndcode command per key, after the delay and gaps.
func (p *BaresipPeer) press(log io.Writer) {
	defer p.wg.Done()
	wait := p.delay
	for i := 0; i < len(p.Digits); i++ {
		select {
		case <-p.quit:
			return
		case <-time.After(wait):
		}
		if _, err := p.send("sndcode", p.Digits[i:i+1]); err != nil {
			return
		}
		fmt.Fprintf(log, "%s driver: sent sndcode %c\n", stamp(), p.Digits[i])
		wait = p.gap
	}
}

// send writes one command and returns its token.
func (p *BaresipPeer) send(command, params string) (string, error) {
	p.mu.Lock()
	p.seq++
	token := "siptest-" + strconv.Itoa(p.seq)
	p.mu.Unlock()
	b, err := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	if err != nil {
		return "", err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = fmt.Fprintf(p.conn, "%d:%s,", len(b), b)
	return token, err
}

// Command runs a ctrl_tcp command (e.g. "listcalls", "hangup",
// "dial" with a SIP URI, "sndcode" with keys) and returns the data of
// baresip's reply, or an error if baresip answered not-ok.
func (p *BaresipPeer) Command(ctx context.Context, command, params string) (string, error) {
	token, err := p.send(command, params)
	if err != nil {
		return "", fmt.Errorf("siptest: baresip %s: %w", command, err)
	}
	for {
		p.mu.Lock()
		rep, ok := p.reps[token]
		delete(p.reps, token)
		wake := p.wake
		p.mu.Unlock()
		if ok {
			if !rep.OK {
				return rep.Data, fmt.Errorf("siptest: baresip %s: %s", command, strings.TrimSpace(rep.Data))
			}
			return rep.Data, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return "", fmt.Errorf("siptest: baresip %s: %w", command, ctx.Err())
		}
	}
}

// Events returns the events baresip reported so far.
func (p *BaresipPeer) Events() []BaresipEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]BaresipEvent(nil), p.evs...)
}

// WaitEvent returns the first event of type typ, waiting for one if none
// arrived yet.
func (p *BaresipPeer) WaitEvent(ctx context.Context, typ string) (BaresipEvent, error) {
	for {
		p.mu.Lock()
		for _, ev := range p.evs {
			if ev.Type == typ {
				p.mu.Unlock()
				return ev, nil
			}
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("siptest: waiting for baresip event %s: %w", typ, ctx.Err())
		}
	}
}

// Log returns baresip's output so far.
func (p *BaresipPeer) Log() string {
	data, _ := os.ReadFile(filepath.Join(p.dir, baresipLog))
	return string(data)
}

// waitRegistered waits until baresip's registration succeeded: a
// REGISTER_OK event, or "OK" in the reginfo listing (the event may have
// come before the driver connected).
func (p *BaresipPeer) waitRegistered() error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	for {
		for _, ev := range p.Events() {
			switch ev.Type {
			case "REGISTER_OK":
				return nil
			case "REGISTER_FAIL":
				return fmt.Errorf("registration failed: %s", ev.Param)
			}
		}
		if info, err := p.Command(ctx, "reginfo", ""); err == nil && strings.Contains(info, "OK") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not registered after %v", StartTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops the driver: it ends the key presses and closes ctrl_tcp.
// It is safe to call more than once.
func (p *BaresipPeer) close() {
	p.once.Do(func() {
		close(p.quit)
		p.conn.Close()
		p.wg.Wait()
	})
}

// Stop ends the driver and baresip now. The test's cleanup does it too;
// calling it twice is safe.
func (p *BaresipPeer) Stop() {
	p.close()
	p.proc.stop()
}

// maxNetstring bounds one ctrl_tcp message.
const maxNetstring = 1 << 20

// readNetstring reads one netstring, "LEN:DATA,".
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > maxNetstring {
		return nil, fmt.Errorf("bad netstring length %q", head)
	}
	b := make([]byte, n+1)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if b[n] != ',' {
		return nil, errors.New("netstring without its trailing comma")
	}
	return b[:n], nil
}

// stamp formats the time for the driver log.
func stamp() string { return time.Now().Format("15:04:05.000") }
