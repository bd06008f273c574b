//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/internal/catalogtest"
)

// BenchmarkAdapterCalls measures what Aptos pays per call of the bridge
// config: one fresh process, as Aptos spawns it (bash -c "set ...; exec
// CMD"), on a 40,000-file catalog (100,000 with METACTL_BENCH_LARGE=1).
// Goals (issue 17): open_for_read at most 15 ms on a catalog file and 50 ms
// on etcd; list_metadata_files of a 100k-file catalog at most 100 ms
// (METACTL_BENCH_BRIDGE_FILES sets another size). The
// bash+cat baseline is what a plain local-folder config pays per file.
func BenchmarkAdapterCalls(b *testing.B) {
	n := 40_000
	if os.Getenv("METACTL_BENCH_LARGE") == "1" {
		n = 100_000
	}
	if v, err := strconv.Atoi(os.Getenv("METACTL_BENCH_BRIDGE_FILES")); err == nil && v > 0 {
		n = v
	}
	buildLean(b)
	dir := b.TempDir()
	catalogtest.WriteBenchStorage(b, dir, n, 1)
	names, err := os.ReadDir(filepath.Join(dir, "metadata"))
	if err != nil {
		b.Fatal(err)
	}
	handle := "metadata/" + names[len(names)/2].Name()
	file := asFile(filepath.Join(b.TempDir(), "c.db"))
	must(b, file, nil, "import", "--local-fs-dir", dir)
	etcd := etcdURL(b, testEtcd(b), "bench", "")
	must(b, etcd, nil, "copy", "--from", file, "--to", etcd)

	call := func(b *testing.B, cfg *aptosConfig, name string, vars []string) {
		for b.Loop() {
			cfg.mustCall(name, vars, nil)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	}
	fileCfg := bridgeConfig(b, file, "--local-fs-dir", dir)
	etcdCfg := bridgeConfig(b, etcd, "--local-fs-dir", dir)
	b.Run("open_for_read/file", func(b *testing.B) { call(b, fileCfg, "open_for_read", []string{"FILE_HANDLE=" + handle}) })
	b.Run("open_for_read/etcd", func(b *testing.B) { call(b, etcdCfg, "open_for_read", []string{"FILE_HANDLE=" + handle}) })
	b.Run("list_metadata_files/file", func(b *testing.B) { call(b, fileCfg, "list_metadata_files", nil) })
	b.Run("list_metadata_files/etcd", func(b *testing.B) { call(b, etcdCfg, "list_metadata_files", nil) })
	b.Run("open_for_read/metactl-adapter-not-installed", func(b *testing.B) {
		// The full metactl, as a config written without metactl-adapter.
		script := strings.Replace(fileCfg.ca.Command("open_for_read"), filepath.Join(filepath.Dir(binary), "metactl-adapter"), binary, 1)
		for b.Loop() {
			cmd := exec.Command("bash", "-c", "set -o nounset -o errexit -o pipefail; "+script)
			cmd.Env = append(os.Environ(), "FILE_HANDLE="+handle)
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	})
	b.Run("baseline-bash-cat", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("bash", "-c", `set -o nounset -o errexit -o pipefail; cat "$FOLDER/$FILE_HANDLE"`)
			cmd.Env = append(os.Environ(), "FOLDER="+dir, "FILE_HANDLE="+handle)
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	})
}
