//go:build unix

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString is what --version prints: the version (set with -ldflags
// "-X main.version=...", else the module version from the build info:
// "(devel)" for a build from a clone), the module path, the VCS revision
// and time the go command stamped (with "+dirty" for uncommitted changes),
// and the Go version and platform.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("metactl %s (no build info) %s %s/%s", orDefault(version, "unknown"), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	v := version
	if v == "" {
		v = orDefault(bi.Main.Version, "(devel)")
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := orDefault(settings["vcs.revision"], "unknown")
	if settings["vcs.modified"] == "true" {
		rev += "+dirty"
	}
	s := fmt.Sprintf("metactl %s\nmodule %s\nrevision %s", v, orDefault(bi.Main.Path, "github.com/metactl/metactl"), rev)
	if t := settings["vcs.time"]; t != "" {
		s += " (" + t + ")"
	}
	return s + fmt.Sprintf("\n%s %s/%s", bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
