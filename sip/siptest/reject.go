package siptest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
)

// rejectScenario answers every INVITE with 100 Trying and then at once
// with the final response (no 180): the data is a scenario with Code and
// Reason.
const rejectScenario = `{{template "head" .}}
  <recv request="INVITE" crlf="true"/>
{{- template "trying" .}}
{{- template "reject" .}}
{{- template "end" .}}`

// SIPpReject starts a SIPp callee that answers every INVITE with 100
// Trying and then at once with code and reason, without ringing, as a
// trunk that refuses calls does (503 Service Unavailable, 500 Server
// Internal Error, 404 Not Found...); it waits for the ACK. The peer's
// user is "reject"; it sends no media, so it needs no root. Its statistics
// count a call as successful once the ACK came. Otherwise it is started,
// checked and stopped as SIPp does it. Ports: a PortBlock, as SIPp.
func SIPpReject(t testing.TB, code int, reason string) *SIPpPeer {
	t.Helper()
	if code < 300 || code > 699 {
		t.Fatalf("siptest: SIPpReject: code %d is not a final error response (300-699)", code)
	}
	if reason == "" || strings.ContainsAny(reason, "<>&\r\n") {
		t.Fatalf("siptest: SIPpReject: reason %q is empty or holds a character the scenario cannot hold", reason)
	}
	path := lookBinary(t, "sipp", "/usr/bin/sipp", "sip-tester")
	sc := &scenario{Mode: Mode("reject-" + strconv.Itoa(code)), User: "reject", Code: code, Reason: reason}
	tpl, err := template.ParseFS(templates, "testdata/sipp-common.tmpl")
	if err == nil {
		tpl, err = tpl.New("reject-now").Parse(rejectScenario)
	}
	var b bytes.Buffer
	if err == nil {
		err = tpl.ExecuteTemplate(&b, "reject-now", sc)
	}
	if err != nil {
		t.Fatalf("siptest: SIPpReject scenario: %v", err)
	}
	base := PortBlock(t)
	sipPort, ctrlPort, mediaPort := base, base+1, base+4
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sippScenario), b.Bytes(), 0o644); err != nil {
		t.Fatalf("siptest: SIPpReject scenario: %v", err)
	}
	p := &SIPpPeer{
		URI:       fmt.Sprintf("sip:%s@%s", sc.User, hostPort(sipPort)),
		Addr:      hostPort(sipPort),
		MediaAddr: hostPort(mediaPort),
		dir:       dir,
	}
	p.run(t, path, sc.Mode, sipPort, ctrlPort, mediaPort)
	return p
}
