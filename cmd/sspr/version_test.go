package main

import (
	"encoding/json"
	"regexp"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	platform := runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.modified", Value: modified},
		}}
	}
	tests := []struct {
		name    string
		version string
		bi      *debug.BuildInfo
		want    string
	}{
		{"ldflags version and revision", "v1.2.3", vcs("0123456789abcdef0123456789abcdef01234567", "false"),
			"sspr v1.2.3 (0123456789ab, " + platform + ")"},
		{"modified tree", "v1.2.3", vcs("0123456789abcdef0123456789abcdef01234567", "true"),
			"sspr v1.2.3 (0123456789ab-dirty, " + platform + ")"},
		{"short revision", "v1", vcs("abc", "false"), "sspr v1 (abc, " + platform + ")"},
		{"no build info", "", nil, "sspr devel (unknown, " + platform + ")"},
		{"module version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "sspr v0.4.0 (unknown, " + platform + ")"},
		{"devel module", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "sspr devel (unknown, " + platform + ")"},
		{"ldflags wins over module", "v2.0.0", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, "sspr v2.0.0 (unknown, " + platform + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := readBuildInfo(tc.version, tc.bi).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	old := version
	version = "v9.8.7"
	t.Cleanup(func() { version = old })

	stdout, stderr, code := runSSPR(t, nil, "version")
	want := regexp.MustCompile(`^sspr v9\.8\.7 \((?:[0-9a-f]{1,12}(?:-dirty)?|unknown), ` +
		regexp.QuoteMeta(runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH) + `\)\n$`)
	if code != 0 || stderr != "" || !want.MatchString(stdout) {
		t.Errorf("sspr version = %d, %q, %q; want 0, stdout matching %s", code, stdout, stderr, want)
	}

	stdout, stderr, code = runSSPR(t, nil, "version", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("sspr version --json = %d, stderr %q", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", stdout, err)
	}
	for key, want := range map[string]any{
		"version": "v9.8.7", "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	for _, key := range []string{"revision", "modified"} {
		if _, ok := got[key]; !ok {
			t.Errorf("no %q in %s", key, stdout)
		}
	}
}
