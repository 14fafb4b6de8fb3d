package siptest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// KamailioFiles is a Kamailio configuration written by the test itself
// (for example a deployment file with its site settings rewritten), with
// the files it reads.
type KamailioFiles struct {
	// Config is the text of the configuration. Kamailio runs in the
	// directory of the files, so it may name them by relative paths (the
	// control socket too: "unix:ctl.sock").
	Config string
	// Files maps file names (no directories) to their content, written
	// next to the configuration: dispatcher lists, address files.
	Files map[string]string
	// Addr is a UDP address on 127.0.0.1 the configuration listens on
	// (from a PortBlock of the test) and where it answers an OPTIONS
	// from 127.0.0.1 with 200 once it is ready.
	Addr string
}

// KamailioFromFiles starts Kamailio with f in a temporary directory and
// returns once it answers OPTIONS at f.Addr. It is run, stopped and logged
// as Kamailio does (foreground, in a PID namespace of its own when the test
// runs as root, stopped by its process group; its log, written to stderr
// whatever the configuration says, is printed if the test failed). The
// returned peer's Realm is empty. The test fails if kamailio is missing,
// if f.Addr is not a 127.0.0.1 address, or if Kamailio does not start.
func KamailioFromFiles(t testing.TB, f KamailioFiles) *KamailioPeer {
	t.Helper()
	path := lookBinary(t, "kamailio", "/usr/sbin/kamailio", "kamailio")
	host, portText, err := net.SplitHostPort(f.Addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || host != loopback {
		t.Fatalf("siptest: KamailioFiles: Addr %q is not %s:PORT", f.Addr, loopback)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range f.Files {
		if name != filepath.Base(name) || name == kamailioConfig || name == kamailioLog {
			t.Fatalf("siptest: KamailioFiles: file name %q is not a plain name of its own", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, kamailioConfig), []byte(f.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &KamailioPeer{Addr: f.Addr, URI: "sip:" + f.Addr, dir: dir}
	p.run(t, path, port)
	return p
}
