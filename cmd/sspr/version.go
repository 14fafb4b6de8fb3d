package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release, set when building:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/sspr
//
// When empty, the module version from the build information is used
// ("go install ...@v1.2.3"), or "devel".
var version string

// buildInfo describes this binary.
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"` // full VCS revision, "" if unknown
	Modified bool   `json:"modified"` // the work tree had uncommitted changes
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// readBuildInfo describes this binary from version and bi, the result of
// debug.ReadBuildInfo (nil if it had none).
func readBuildInfo(version string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// String returns "sspr v1.2.3 (0123456789ab, go1.26.8, linux/amd64)", with
// "-dirty" after a revision built from a modified tree and "unknown" when
// there is no revision.
func (b buildInfo) String() string {
	rev := b.Revision
	switch {
	case rev == "":
		rev = "unknown"
	case len(rev) > 12:
		rev = rev[:12]
	}
	if b.Modified && b.Revision != "" {
		rev += "-dirty"
	}
	return fmt.Sprintf("sspr %s (%s, %s, %s/%s)", b.Version, rev, b.Go, b.OS, b.Arch)
}

// runVersion is "sspr version [--json]".
func runVersion(_ context.Context, e *env, args []string) int {
	flags := newFlagSet("version", "[--json]", "Print the version, VCS revision, Go version and platform of this binary.")
	asJSON := flags.Bool("json", false, "print a JSON object")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	if len(operands) > 0 {
		return flags.usageError(e, "unexpected argument %q", operands[0])
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	info := readBuildInfo(version, bi)
	if *asJSON {
		b, err := json.Marshal(info)
		if err != nil {
			fmt.Fprintf(e.stderr, "sspr version: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	fmt.Fprintln(e.stdout, info)
	return exitOK
}
