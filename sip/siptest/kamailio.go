package siptest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// Defaults of KamailioConfig.
const (
	DefaultTrunkUser     = "trunkuser"
	DefaultTrunkPassword = "Trunk-Secret-1"
)

// KamailioConfig describes a Kamailio "ITSP trunk": a registrar and proxy
// that demands SIP digest authentication (realm Realm).
type KamailioConfig struct {
	// Users maps digest user names to passwords. Empty means
	// DefaultTrunkUser with DefaultTrunkPassword. The digest user must
	// equal the From user (the To user for REGISTER), else 403.
	Users map[string]string
	// Routes maps Request-URI users to the SIP URI an INVITE for them is
	// relayed to (for example a SIPpPeer's URI), when the user has not
	// registered. The Request-URI is kept; only the next hop changes.
	Routes map[string]string
	// Default is where INVITEs for other users go. Empty means they get
	// 404 Not Found.
	Default string
	// Rechallenge answers a wrong password or an unknown user with a new
	// challenge (401/407), as some ITSPs do, instead of 403 Forbidden.
	Rechallenge bool
	// Verbose raises Kamailio's log level from info (2) to debug (3).
	Verbose bool
}

// KamailioPeer is a running Kamailio trunk.
type KamailioPeer struct {
	// Addr is its SIP address, 127.0.0.1:PORT, on UDP and TCP.
	Addr string
	// URI is sip:127.0.0.1:PORT, the domain to register with.
	URI string
	// Realm is the digest realm of its challenges.
	Realm string

	dir  string
	proc *proc
}

// The files of a Kamailio peer, in its directory.
const (
	kamailioConfig = "kamailio.cfg"
	kamailioLog    = "kamailio.log"
)

// Kamailio starts Kamailio as an authenticating trunk on a free loopback
// port and returns once it answers OPTIONS. The configuration is generated
// in a temporary directory (users and routes in memory, no database). The
// test fails if kamailio is missing (run `make test-deps`), if cfg is
// invalid, or if Kamailio does not start; Kamailio and its workers are
// stopped by their process group when the test ends, and its log is
// printed if the test failed.
//
// Ports: a PortBlock; SIP (UDP and TCP) on its first port.
func Kamailio(t testing.TB, cfg KamailioConfig) *KamailioPeer {
	t.Helper()
	path := lookBinary(t, "kamailio", "/usr/sbin/kamailio", "kamailio")
	mods, _ := filepath.Glob("/usr/lib/*/kamailio/modules/htable.so")
	if len(mods) == 0 {
		t.Fatalf("siptest: Kamailio modules not found (/usr/lib/*/kamailio/modules): run `make test-deps`")
	}
	port := PortBlock(t)
	data, err := cfg.data(port, filepath.Dir(mods[0]))
	if err != nil {
		t.Fatalf("siptest: KamailioConfig: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, kamailioConfig)
	if err := data.write(cfgPath); err != nil {
		t.Fatalf("siptest: Kamailio config: %v", err)
	}
	p := &KamailioPeer{Addr: hostPort(port), URI: "sip:" + hostPort(port), Realm: Realm, dir: dir}
	p.run(t, path, port)
	return p
}

// run starts Kamailio on the configuration in p's directory, as the
// first process of a PID namespace when it may, and waits until it
// answers OPTIONS on port.
func (p *KamailioPeer) run(t testing.TB, path string, port int) {
	t.Helper()
	dir := p.dir
	logPath := filepath.Join(dir, kamailioLog)
	tailOnFailure(t, "Kamailio", logPath)
	// -DD: no daemon (the workers are still forked; they share its
	// process group); -E: log to stderr; small shared and private memory
	// pools.
	args := []string{path, "-f", kamailioConfig, "-DD", "-E", "-m", "32", "-M", "8", "-Y", "run", "-P", "run/kamailio.pid", "-w", "."}
	// Kamailio's workers outlive their main process if it is killed (they
	// even ignore SIGTERM then), so when it may, the test runs it as the
	// first process of a PID namespace of its own: when that one ends,
	// the kernel ends every worker. unshare's --kill-child sends it
	// SIGTERM when unshare dies, which the kernel makes happen when the
	// test binary dies (see prepare); stop sends SIGTERM to the process
	// group (unshare ignores it, Kamailio shuts down).
	if unshare, err := exec.LookPath("unshare"); err == nil && os.Geteuid() == 0 {
		args = append([]string{unshare, "--pid", "--kill-child=SIGTERM"}, args...)
	}
	p.proc = start(t, "kamailio", true, dir, logPath, args[0], args[1:]...)
	udp := bound("udp", port)
	if err := p.proc.waitReady(func() bool { return udp() && optionsOK(p.Addr) }); err != nil {
		t.Fatalf("siptest: %v\n%s", err, logTails(logPath))
	}
}

// TrunkURI returns the SIP URI that reaches user through the trunk, e.g.
// sip:dtmf@127.0.0.1:PORT.
func (p *KamailioPeer) TrunkURI(user string) string { return "sip:" + user + "@" + p.Addr }

// Log returns Kamailio's log so far.
func (p *KamailioPeer) Log() string {
	data, _ := os.ReadFile(filepath.Join(p.dir, kamailioLog))
	return string(data)
}

// Stop ends Kamailio and its workers now. The test's cleanup does it too;
// calling it twice is safe.
func (p *KamailioPeer) Stop() { p.proc.stop() }

// kamailioData is the data of the configuration template.
type kamailioData struct {
	Port        int
	ModulePath  string
	Realm       string
	Debug       int
	Users       []keyValue
	Routes      []keyValue
	Default     string
	Rechallenge bool
}

// keyValue is one htable entry.
type keyValue struct{ Key, Value string }

// data validates c and returns the template data.
func (c KamailioConfig) data(port int, modules string) (*kamailioData, error) {
	d := &kamailioData{Port: port, ModulePath: modules, Realm: Realm, Debug: 2, Default: c.Default, Rechallenge: c.Rechallenge}
	if c.Verbose {
		d.Debug = 3
	}
	users := c.Users
	if len(users) == 0 {
		users = map[string]string{DefaultTrunkUser: DefaultTrunkPassword}
	}
	var err error
	if d.Users, err = entries("Users", users, false); err != nil {
		return nil, err
	}
	if d.Routes, err = entries("Routes", c.Routes, true); err != nil {
		return nil, err
	}
	if c.Default != "" && !plainURI(c.Default) {
		return nil, fmt.Errorf("Default %q is not a sip: URI", c.Default)
	}
	return d, nil
}

// entries sorts m into htable entries, checking that they fit in the
// configuration's quoted strings; values are SIP URIs if uris.
func entries(field string, m map[string]string, uris bool) ([]keyValue, error) {
	var out []keyValue
	for k, v := range m {
		if k == "" || strings.ContainsAny(k, "\"\\$()=> \t\r\n;@:") {
			return nil, fmt.Errorf("%s: key %q is not a plain SIP user", field, k)
		}
		if uris && !plainURI(v) {
			return nil, fmt.Errorf("%s[%q]: %q is not a sip: URI", field, k, v)
		}
		if !uris && (v == "" || strings.ContainsAny(v, "\"\\$\r\n")) {
			return nil, fmt.Errorf("%s[%q]: the password is empty or holds a character the configuration cannot quote", field, k)
		}
		out = append(out, keyValue{k, v})
	}
	slices.SortFunc(out, func(a, b keyValue) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// plainURI reports whether u is a sip: URI safe to quote in the
// configuration.
func plainURI(u string) bool {
	return strings.HasPrefix(u, "sip:") && !strings.ContainsAny(u, "\"\\$ \t\r\n<>")
}

// write renders the configuration to path.
func (d *kamailioData) write(path string) error {
	tpl, err := template.ParseFS(templates, "testdata/kamailio.cfg.tmpl")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, d); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// optionsOK sends one OPTIONS to addr from an ephemeral loopback port and
// reports whether a 200 came back within 200 ms.
func optionsOK(addr string) bool {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return false
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return false
	}
	local := conn.LocalAddr().String()
	id := strconv.FormatUint(rand.Uint64(), 16)
	req := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:siptest@" + local + ">;tag=" + id + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: " + id + "@siptest\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.WriteToUDP([]byte(req), to); err != nil {
		return false
	}
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 "))
}
