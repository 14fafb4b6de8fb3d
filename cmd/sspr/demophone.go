package main

import (
	"context"
	"embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/web"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// demoAssets are the virtual phone's page, script and style sheet.
//
//go:embed demo
var demoAssets embed.FS

// The virtual phone's states, as its page shows them.
const (
	phoneIdle      = "idle"
	phoneRinging   = "ringing"
	phoneConnected = "connected"
)

// How a key is pressed on the call: the tone's (or event's) length and
// the pause after it.
const (
	keyOn  = 120 * time.Millisecond
	keyOff = 80 * time.Millisecond
	// keyTimeout bounds sending one key.
	keyTimeout = 5 * time.Second
	// answerTimeout bounds answering a call (the 200 OK until the ACK).
	answerTimeout = 10 * time.Second
	// clientQueue is how many messages (audio frames, states) wait for a
	// page; audio beyond it is dropped.
	clientQueue = 256
)

// Errors of the phone page's commands.
var (
	errNotRinging  = errors.New("demo: the phone is not ringing")
	errNoCall      = errors.New("demo: no call in progress")
	errBadKey      = errors.New("demo: not a key of the keypad")
	errBadMethod   = errors.New("demo: unknown key method")
	errBadCommand  = errors.New("demo: unknown command")
	errKeysPending = errors.New("demo: too many keys waiting")
)

// virtualPhone is the demo's phone: a sip.Phone that sspr's trunk points
// at, shown in the browser at /demo/phone. The page follows its state
// over a WebSocket, which also carries the call's audio (8 kHz PCM16
// little-endian, one binary message per packet) to the page, and the
// page's commands (answer, decline, key, hang up) back. It takes one
// call at a time: another gets 486 Busy Here.
type virtualPhone struct {
	log   *slog.Logger
	phone *sip.Phone
	// base ends the pages' connections when the phone stops.
	base       context.Context
	cancelBase context.CancelFunc
	frames     atomic.Uint64 // audio packets heard on calls
	pages      sync.WaitGroup

	mu      sync.Mutex
	state   string
	number  string                    // the number called, masked
	decide  chan bool                 // ringing: answer or not
	call    *sip.PhoneCall            // connected
	keys    chan keyPress             // connected: keys to press in order
	clients map[*phoneClient]struct{} // open pages
	stopped bool
}

// keyPress is a key of the page's keypad and how to send it.
type keyPress struct {
	key    byte
	method media.Method
}

// phoneClient is one open phone page.
type phoneClient struct {
	out chan wsMessage
}

// wsMessage is a message to a page: JSON text, or binary audio.
type wsMessage struct {
	typ  websocket.MessageType
	data []byte
}

// phoneEvent is the JSON the page receives: the phone's state.
type phoneEvent struct {
	Type   string `json:"type"`
	State  string `json:"state"`
	Number string `json:"number,omitempty"`
}

// phoneCommand is the JSON the page sends.
type phoneCommand struct {
	// Op is answer, decline, key or hangup.
	Op string `json:"op"`
	// Key (op key) is one of 0-9, * and #.
	Key string `json:"key,omitempty"`
	// Method (op key) is rfc4733 (the default), inband or info.
	Method string `json:"method,omitempty"`
}

func (v *virtualPhone) init() {
	v.state = phoneIdle
	v.base, v.cancelBase = context.WithCancel(context.Background())
}

// addr returns the phone's SIP address.
func (v *virtualPhone) addr() netip.AddrPort { return v.phone.Addr() }

// ready is closed once the phone serves.
func (v *virtualPhone) ready() <-chan struct{} { return v.phone.Ready() }

// run serves the phone until ctx is done; then it ends the calls and
// closes the pages' connections.
func (v *virtualPhone) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		v.mu.Lock()
		v.stopped = true
		v.mu.Unlock()
		v.cancelBase()
	})
	defer stop()
	err := v.phone.Run(ctx)
	v.cancelBase()
	v.pages.Wait()
	return err
}

// close releases the phone's transports, after run returned.
func (v *virtualPhone) close() error { return v.phone.Close() }

// handle is the phone's handler of one incoming call: it rings until the
// page answers or declines it, then presses the page's keys on the call
// until it ends.
func (v *virtualPhone) handle(in *sip.Incoming) {
	decide := make(chan bool, 1)
	v.mu.Lock()
	if v.state != phoneIdle || v.stopped {
		v.mu.Unlock()
		_ = in.Reject(486, "Busy Here")
		return
	}
	v.state, v.decide, v.number = phoneRinging, decide, phone.Mask(in.User())
	v.mu.Unlock()
	v.publish()
	defer v.toIdle()
	in.OnAudio(v.audio)
	if err := in.Ring(); err != nil {
		v.log.Warn("ringing", "err", err)
		return
	}
	var answer bool
	select {
	case answer = <-decide:
	case <-in.Cancelled():
		return
	case <-v.base.Done():
		_ = in.Reject(480, "Temporarily Unavailable")
		return
	}
	if !answer {
		_ = in.Reject(603, "Decline")
		return
	}
	actx, cancel := context.WithTimeout(v.base, answerTimeout)
	c, err := in.Answer(actx)
	cancel()
	if err != nil {
		v.log.Warn("answering", "err", err)
		return
	}
	keys := make(chan keyPress, 32)
	v.mu.Lock()
	v.state, v.call, v.keys = phoneConnected, c, keys
	v.mu.Unlock()
	v.publish()
	for {
		select {
		case k := <-keys:
			kctx, cancel := context.WithTimeout(context.Background(), keyTimeout)
			if err := c.SendDigits(kctx, string(k.key), k.method, keyOn, keyOff); err != nil {
				v.log.Warn("pressing a key", "method", k.method.String(), "err", err)
			}
			cancel()
		case <-c.Done():
			return
		}
	}
}

// toIdle makes the phone idle again after a call.
func (v *virtualPhone) toIdle() {
	v.mu.Lock()
	v.state, v.decide, v.call, v.keys, v.number = phoneIdle, nil, nil, nil, ""
	v.mu.Unlock()
	v.publish()
}

// audio forwards a packet of the caller's audio to the open pages.
func (v *virtualPhone) audio(pcm []int16) {
	v.frames.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.clients) == 0 {
		return
	}
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	for c := range v.clients {
		select {
		case c.out <- wsMessage{typ: websocket.MessageBinary, data: b}:
		default: // a slow page loses audio, not the call
		}
	}
}

// event returns the phone's state as the page receives it. v.mu is held.
func (v *virtualPhone) event() []byte {
	b, _ := json.Marshal(phoneEvent{Type: "state", State: v.state, Number: v.number})
	return b
}

// publish sends the phone's state to every open page.
func (v *virtualPhone) publish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	msg := wsMessage{typ: websocket.MessageText, data: v.event()}
	for c := range v.clients {
		select {
		case c.out <- msg:
		default:
		}
	}
}

// command carries out a page's command.
func (v *virtualPhone) command(cmd phoneCommand) error {
	v.mu.Lock()
	switch cmd.Op {
	case "answer", "decline":
		defer v.mu.Unlock()
		if v.state != phoneRinging {
			return errNotRinging
		}
		select {
		case v.decide <- cmd.Op == "answer":
		default: // decided already
		}
		return nil
	case "key":
		defer v.mu.Unlock()
		if v.state != phoneConnected {
			return errNoCall
		}
		if len(cmd.Key) != 1 || !isKeypadKey(cmd.Key[0]) {
			return errBadKey
		}
		m, err := keyMethod(cmd.Method)
		if err != nil {
			return err
		}
		select {
		case v.keys <- keyPress{key: cmd.Key[0], method: m}:
			return nil
		default:
			return errKeysPending
		}
	case "hangup":
		c := v.call
		v.mu.Unlock()
		if c == nil {
			return errNoCall
		}
		ctx, cancel := context.WithTimeout(context.Background(), keyTimeout)
		defer cancel()
		return c.Hangup(ctx)
	}
	v.mu.Unlock()
	return errBadCommand
}

// isKeypadKey reports whether k is on the page's keypad.
func isKeypadKey(k byte) bool { return k >= '0' && k <= '9' || k == '*' || k == '#' }

// keyMethod returns the method a page names ("" is RFC 4733).
func keyMethod(name string) (media.Method, error) {
	switch name {
	case "", "rfc4733":
		return media.RFC4733, nil
	case "inband":
		return media.InBand, nil
	case "info":
		return media.Info, nil
	}
	return 0, errBadMethod
}

// wrap serves the phone's page, its files and its WebSocket in front of
// the portal's handler h.
func (v *virtualPhone) wrap(h http.Handler) http.Handler {
	files, err := fs.Sub(demoAssets, "demo")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	static := http.FileServerFS(files)
	mux := http.NewServeMux()
	mux.Handle("GET /demo/phone", demoHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "phone.html")
	})))
	mux.HandleFunc("GET /demo/phone/ws", v.serveWS)
	mux.Handle("GET /demo/{file}", demoHeaders(http.StripPrefix("/demo", static)))
	mux.Handle("/", h)
	return mux
}

// demoHeaders sets the portal's security headers on the phone's pages.
func demoHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", web.ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		if r.URL.Path == "/demo/" || r.URL.Path == "/demo/phone.html" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveWS serves one phone page's WebSocket: the phone's state and the
// call's audio out, the page's commands in. Only pages of the same
// origin may connect (websocket.Accept checks the Origin header).
func (v *virtualPhone) serveWS(w http.ResponseWriter, r *http.Request) {
	c := &phoneClient{out: make(chan wsMessage, clientQueue)}
	v.mu.Lock()
	if v.stopped {
		v.mu.Unlock()
		http.Error(w, "The virtual phone has stopped.", http.StatusServiceUnavailable)
		return
	}
	v.pages.Add(1)
	defer v.pages.Done()
	v.mu.Unlock()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithCancel(v.base)
	defer cancel()
	v.mu.Lock()
	v.clients[c] = struct{}{}
	c.out <- wsMessage{typ: websocket.MessageText, data: v.event()}
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.clients, c)
		v.mu.Unlock()
	}()

	read := make(chan struct{})
	go func() {
		defer close(read)
		defer cancel()
		for {
			typ, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var cmd phoneCommand
			if typ != websocket.MessageText || json.Unmarshal(data, &cmd) != nil {
				v.log.Debug("a page sent a message that is not a command")
				continue
			}
			if err := v.command(cmd); err != nil {
				v.log.Debug("a page's command", "op", cmd.Op, "err", err)
			}
		}
	}()
	defer func() { <-read }()
	for {
		select {
		case m := <-c.out:
			if err := conn.Write(ctx, m.typ, m.data); err != nil {
				cancel()
				return
			}
		case <-ctx.Done():
			_ = conn.Close(websocket.StatusGoingAway, "the virtual phone has stopped")
			return
		}
	}
}
