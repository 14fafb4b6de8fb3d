package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/workflow"
)

// exampleEnv are the environment variables the example references.
func exampleEnv(t *testing.T) {
	t.Setenv("LDAP_PASSWORD", "not-a-real-password")
	t.Setenv("SIP_TRUNK_PASSWORD", "not-a-real-password")
	t.Setenv("SSPR_SECRET", "not-a-real-secret")
}

// TestConfigExample: "sspr config example" prints deploy/sspr.example.yaml,
// which passes "sspr config check" and names every key of the file format.
func TestConfigExample(t *testing.T) {
	exampleEnv(t)
	stdout, stderr, code := runSSPR(t, nil, "config", "example")
	if code != exitOK || stderr != "" {
		t.Fatalf("config example: exit %d, stderr %q", code, stderr)
	}
	shipped, err := os.ReadFile("../../deploy/sspr.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(shipped) {
		t.Fatal("sspr config example differs from deploy/sspr.example.yaml")
	}
	stdout, stderr, code = runSSPR(t, nil, "config", "check", "--config", "../../deploy/sspr.example.yaml")
	if code != exitOK || stdout != "config ok\n" {
		t.Fatalf("config check of the example: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, key := range yamlKeys(reflect.TypeFor[fileConfig]()) {
		if !regexp.MustCompile(`(?m)^[ \t#-]*(- )?\{?`+regexp.QuoteMeta(key)+`:`).MatchString(exampleConfig) &&
			!strings.Contains(exampleConfig, "{"+key+":") && !strings.Contains(exampleConfig, ", "+key+":") {
			t.Errorf("the example does not show the key %s", key)
		}
	}
}

// yamlKeys returns the YAML keys of a struct type, recursively.
func yamlKeys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			out = append(out, yamlKeys(f.Type)...)
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, name)
		if f.Type.PkgPath() != "time" {
			out = append(out, yamlKeys(f.Type)...)
		}
	}
	return out
}

// TestConfigCheck: every problem of a broken file is printed with its
// path in the file, and the exit status is 1.
func TestConfigCheck(t *testing.T) {
	exampleEnv(t)
	base, err := os.ReadFile("../../deploy/sspr.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		edit    func(string) string
		unset   []string
		want    []string // each a line of the output
		wantOut int      // how many problems
	}{
		{name: "every secret unset", unset: []string{"LDAP_PASSWORD", "SIP_TRUNK_PASSWORD", "SSPR_SECRET"}, want: []string{
			"sip.trunks[0].password: environment variable SIP_TRUNK_PASSWORD is not set",
			"portal.secret: environment variable SSPR_SECRET is not set",
			"directory.bind_password: environment variable LDAP_PASSWORD is not set"}, wantOut: 3},
		{name: "several sections wrong", edit: func(s string) string {
			s = strings.Replace(s, "bind_ip: 0.0.0.0", "bind_ip: not-an-ip", 1)
			s = strings.Replace(s, "trusted_proxies: [10.0.0.0/8]", "trusted_proxies: [10.0.0.0/8, nowhere]", 1)
			return strings.Replace(s, "types: [mobile,", "types: [pager,", 1)
		}, want: []string{"sip.media.bind_ip:", "portal.trusted_proxies[1]:", "portal.phone:"}, wantOut: 3},
		{name: "workflow", edit: func(s string) string {
			return strings.Replace(s, "      - gate: pin\n", "      - gate: retina\n", 1)
		}, want: []string{"portal.workflow.register[2].gate:", "portal.workflow.reset[0].mode:"}, wantOut: 2},
		{name: "unknown keys", edit: func(s string) string {
			s = strings.Replace(s, "  user_agent: sspr\n", "  user_agnet: sspr\n", 1)
			return strings.Replace(s, "  max_body: 65536\n", "  max_bdy: 65536\n", 1)
		}, want: []string{"field user_agnet not found", "field max_bdy not found"}, wantOut: 2},
		{name: "directory", edit: func(s string) string {
			return strings.Replace(s, "  type: openldap\n", "  type: novell\n", 1)
		}, want: []string{"directory"}, wantOut: 1},
		{name: "store", edit: func(s string) string {
			return strings.Replace(s, "  # postgres: ${SSPR_POSTGRES_DSN}\n", "  postgres: ${SSPR_POSTGRES_DSN}\n", 1)
		}, want: []string{"store.sqlite and store.postgres"}, wantOut: 1},
		{name: "api tokens", edit: func(s string) string {
			return strings.Replace(s, "    tokens: []\n", "    tokens:\n      - name: mim\n        token: too-short\n      - name: pwm\n        token: ${SSPR_UNSET_API_TOKEN}\n", 1)
		}, want: []string{"portal.api.tokens[0]", "portal.api.tokens[1]"}, wantOut: 2},
		{name: "portal limits", edit: func(s string) string {
			s = strings.Replace(s, "    tokens: []\n", "    tokens:\n      - name: mim\n        token: 0123456789abcdef0123456789abcdef\n      - name: mim\n        token: fedcba9876543210fedcba9876543210\n", 1)
			return strings.Replace(s, "  pin_min: 4\n", "  pin_min: 2\n", 1)
		}, want: []string{"portal.pin_min:", "portal.api.tokens[1].name: duplicate name"}, wantOut: 2},
		{name: "prompts", edit: func(s string) string {
			return strings.Replace(s, "  # prompts: /etc/sspr/prompts\n", "  prompts: /nonexistent/sspr-prompts\n", 1)
		}, want: []string{"ivr.prompts:"}, wantOut: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.unset {
				t.Setenv(v, "")
				os.Unsetenv(v)
			}
			text := string(base)
			if tc.edit != nil {
				text = tc.edit(text)
			}
			file := filepath.Join(t.TempDir(), "sspr.yaml")
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runSSPR(t, nil, "config", "check", "--config", file)
			if code != exitFail {
				t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != tc.wantOut {
				t.Errorf("%d problems, want %d:\n%s", len(lines), tc.wantOut, stdout)
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w) || strings.Contains(l, w)
				}
				if !found {
					t.Errorf("no problem %q in:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout+stderr, "not-a-real-") {
				t.Error("a secret was printed")
			}
		})
	}
	for _, args := range [][]string{{"config", "check"}, {"config", "check", "--config", "a", "b"}, {"config", "example", "x"}} {
		if _, _, code := runSSPR(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, _, code := runSSPR(t, nil, "config", "check", "--config", "/nonexistent/sspr.yaml"); code != exitFail {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}

// fakeReload records what a reload sets.
type fakeReload struct {
	prompts  *ivr.Prompts
	workflow *workflow.Config
}

func (f *fakeReload) SetPrompts(p *ivr.Prompts) error { f.prompts = p; return nil }
func (f *fakeReload) SetWorkflow(c workflow.Config) error {
	f.workflow = &c
	return nil
}

// TestReloadConfig: a good file sets the prompts and the workflow; a bad
// one sets nothing and logs its problems.
func TestReloadConfig(t *testing.T) {
	good := writeServeConfig(t, "  workflow:\n    unlock:\n      - gate: phone\n        mode: confirm\n")
	bad := writeServeConfig(t, "  workflow:\n    unlock:\n      - gate: retina\n")
	for _, tc := range []struct {
		name    string
		file    string
		wantErr bool
	}{{"good", good, false}, {"bad", bad, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			f := &fakeReload{}
			err := reloadConfig(slog.New(slog.NewTextHandler(&logs, nil)), tc.file, f, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if f.prompts != nil || f.workflow != nil {
					t.Error("a bad file changed the configuration")
				}
				if !strings.Contains(logs.String(), "portal.workflow.unlock[0].gate") {
					t.Errorf("the log does not name the problem:\n%s", logs.String())
				}
				return
			}
			if f.prompts == nil || f.workflow == nil || f.workflow.Unlock[0].Mode != workflow.ModeConfirm {
				t.Errorf("reload set prompts %v, workflow %+v", f.prompts != nil, f.workflow)
			}
		})
	}
}
