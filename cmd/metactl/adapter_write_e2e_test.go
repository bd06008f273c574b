//go:build unix

package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metactl/metactl/internal/samplegen"
)

// smallStorage writes a realistic 20-file storage (6 epochs, 3
// snapshots, 10 transaction batches to version 4500, identity).
func smallStorage(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "storage")
	if _, err := samplegen.Generate(dir, samplegen.Options{Epochs: 6, VersionsPerEpoch: 1000, TxnBatch: 500, SnapshotIntervalEpochs: 2, Seed: 1, Identity: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func bridgeTxnLine(first, last int, suffix string) string {
	return `{"TransactionBackup":{"first_version":` + itoa(uint64(first)) + `,"last_version":` + itoa(uint64(last)) +
		`,"manifest":"transaction_` + itoa(uint64(first)) + `-.` + suffix + `/transaction.manifest"}}` + "\n"
}

// storedFile reads a storage file, plain or gzip.
func storedFile(t testing.TB, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	return string(b), true
}

// TestAdapterBridgeWrites drives save_metadata_line and
// backup_metadata_file through the generated config exactly as Aptos
// does, wrapping a LocalFs folder and a bucket config (gzip).
func TestAdapterBridgeWrites(t *testing.T) {
	t.Parallel()
	for _, wrap := range []string{"--local-fs-dir", "--command-adapter-config"} {
		t.Run(wrap, func(t *testing.T) {
			t.Parallel()
			cat := filepath.Join(t.TempDir(), "c.db")
			dir := smallStorage(t)
			must(t, cat, nil, "import", "--local-fs-dir", dir)
			arg := dir
			if wrap == "--command-adapter-config" {
				arg = plainFolderConfig(t, dir, true)
			}
			c := bridgeConfig(t, cat, wrap, arg)
			gen := func() uint64 { return stateOf(t, cat).Generation }
			save := func(name, content string) (string, string, int) {
				out, errb, code := c.call("save_metadata_line", []string{"FILE_NAME=" + name}, []byte(content))
				return string(out), string(errb), code
			}
			move := func(name string) (string, int) {
				_, errb, code := c.call("backup_metadata_file", []string{"FILE_NAME=" + name}, nil)
				return string(errb), code
			}

			// A new file, as the backup coordinator saves it.
			newTxn := bridgeTxnLine(4501, 5000, "aaaa")
			out, errb, code := save("transaction_4501-5000.meta", newTxn)
			if code != 0 || out != "metadata/transaction_4501-5000.meta\n" || errb != "" {
				t.Fatalf("save: exit %d, stdout %q, stderr %q", code, out, errb)
			}
			g := gen()
			if got := must(t, cat, nil, "status").stdout; !strings.Contains(got, "latest_transaction_version: 5000") {
				t.Fatalf("status after the save: %s", got)
			}
			if got, ok := storedFile(t, filepath.Join(dir, "metadata", "transaction_4501-5000.meta")); !ok || got != newTxn {
				t.Fatalf("not written through: %q", got)
			}
			if got := c.mustCall("open_for_read", []string{"FILE_HANDLE=metadata/transaction_4501-5000.meta"}, nil); string(got) != newTxn {
				t.Fatalf("open_for_read: %q", got)
			}
			// Aptos retries: a no-op.
			if _, errb, code := save("transaction_4501-5000.meta", newTxn); code != 0 || gen() != g {
				t.Fatalf("retry: exit %d, generation %d (was %d): %s", code, gen(), g, errb)
			}
			// Other content under an original's name: refused.
			_, errb, code = save("transaction_4501-5000.meta", bridgeTxnLine(4501, 5000, "bbbb"))
			if code != 3 || gen() != g || !strings.Contains(errb, "metadata/transaction_4501-5000.meta already holds other content") {
				t.Fatalf("other content: exit %d, generation %d: %s", code, gen(), errb)
			}
			// Bad input, refused as import refuses it.
			_, errb, code = save("transaction_5001-5000.meta", bridgeTxnLine(5001, 5000, "cccc"))
			if code != 3 || gen() != g || !strings.Contains(errb, "metadata/transaction_5001-5000.meta:1") {
				t.Fatalf("bad line: exit %d: %s", code, errb)
			}
			if _, errb, code = save("a b.meta", newTxn); code != 3 || !strings.Contains(errb, "illegal file name") {
				t.Fatalf("bad name: exit %d: %s", code, errb)
			}

			// The compactor: a compacted file of 0-0 and 1-500, then the
			// originals moved.
			a, b := readFile(t, filepath.Join(dir, "metadata", "transaction_0-0.meta")), readFile(t, filepath.Join(dir, "metadata", "transaction_1-500.meta"))
			if _, errb, code := save("transaction_compacted_0-500.meta", a+b); code != 0 {
				t.Fatalf("save compacted: %s", errb)
			}
			// Moving an original whose entries no other file holds would
			// lose them: refused.
			if errb, code := move("transaction_501-1000.meta"); code != 3 || !strings.Contains(errb, "would lose 1 entries") {
				t.Fatalf("lossy move: exit %d: %s", code, errb)
			}
			for _, name := range []string{"transaction_0-0.meta", "transaction_1-500.meta"} {
				if errb, code := move(name); code != 0 || errb != "" {
					t.Fatalf("move %s: exit %d: %s", name, code, errb)
				}
				if _, ok := storedFile(t, filepath.Join(dir, "metadata_backup", name)); !ok {
					t.Fatalf("%s not moved in the storage", name)
				}
				if _, ok := storedFile(t, filepath.Join(dir, "metadata", name)); ok {
					t.Fatalf("%s still live in the storage", name)
				}
			}
			g = gen()
			if errb, code := move("transaction_0-0.meta"); code != 0 || gen() != g {
				t.Fatalf("retried move: exit %d, %s", code, errb)
			}
			if errb, code := move("transaction_9-9.meta"); code != 6 || !strings.Contains(errb, `"metadata/transaction_9-9.meta" is not in the catalog`) {
				t.Fatalf("unknown move: exit %d, %s", code, errb)
			}
			// The chunk changes: a replacement that keeps every entry
			// (0-0 and 1-500 also in a new file) is taken, journaled.
			if _, errb, code := save("transaction_compacted_0-1000.meta", a+b+readFile(t, filepath.Join(dir, "metadata", "transaction_501-1000.meta"))); code != 0 {
				t.Fatalf("second compacted file: %s", errb)
			}
			if _, errb, code := save("transaction_compacted_0-500.meta", a); code != 0 {
				t.Fatalf("replacement keeping the view: exit %d: %s", code, errb)
			}
			rg := gen()
			if got, _ := storedFile(t, filepath.Join(dir, "metadata", "transaction_compacted_0-500.meta")); got != a {
				t.Fatalf("replacement not written through: %q", got)
			}
			if log := must(t, cat, nil, "log", "-n", "1").stdout; !strings.Contains(log, "adapter-save") {
				t.Fatalf("log: %s", log)
			}
			// A replacement that would lose entries: refused, naming them.
			must(t, cat, nil, "undo", itoa(rg)) // back to 0-500 holding both
			if errb, code := move("transaction_compacted_0-1000.meta"); code != 0 {
				t.Fatalf("move: %s", errb)
			}
			_, errb, code = save("transaction_compacted_0-500.meta", a)
			if code != 3 || !strings.Contains(errb, "would lose 1 entries") || !strings.Contains(errb, `"first_version":1,"last_version":500`) {
				t.Fatalf("lossy replacement: exit %d: %s", code, errb)
			}
			must(t, cat, nil, "verify")
		})
	}
}

// TestAdapterBridgeWriteThroughFails: the catalog commit stands when the
// write-through fails; the call warns and exits 0, and the next export
// writes the file.
func TestAdapterBridgeWriteThroughFails(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	good := plainFolderConfig(t, dir, false)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	writeTextFile(t, broken, strings.Replace(readFile(t, good), `mkdir -p "$FOLDER/metadata"`, `cat > /dev/null; echo "bucket unreachable" >&2; exit 7`, 1))
	c := bridgeConfig(t, cat, "--command-adapter-config", broken)
	line := bridgeTxnLine(4501, 5000, "aaaa")
	_, errb, code := c.call("save_metadata_line", []string{"FILE_NAME=transaction_4501-5000.meta"}, []byte(line))
	if code != 0 || !strings.Contains(string(errb), "committed to the catalog at generation 2, but writing it through") || !strings.Contains(string(errb), "bucket unreachable") {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if _, ok := storedFile(t, filepath.Join(dir, "metadata", "transaction_4501-5000.meta")); ok {
		t.Fatal("written despite the failure")
	}
	r := must(t, cat, nil, "export", "--command-adapter-config", good)
	if got, _ := storedFile(t, filepath.Join(dir, "metadata", "transaction_4501-5000.meta")); got != line {
		t.Fatalf("export did not repair it: %q\n%s", got, r)
	}
}

// TestAdapterBridgeEtcd: the bridge on an etcd catalog (an in-process
// member): the config calls metactl-adapter (which links no etcd client:
// its reads go through the adapter server, anything else through
// metactl; the read calls first try the fast path), or metactl itself with
// --no-adapter-server; reads and writes
// go through etcd, and a file an undo deleted is still served.
func TestAdapterBridgeEtcd(t *testing.T) {
	t.Parallel()
	loc := etcdURL(t, testEtcd(t), "bridge", etcdOptions)
	dir := smallStorage(t)
	must(t, loc, nil, "import", "--local-fs-dir", dir)
	if cmd := bridgeConfig(t, loc, "--local-fs-dir", dir, "--no-adapter-server").ca.Command("open_for_read"); !strings.HasPrefix(cmd, "exec "+binary+" --catalog '"+loc+"'") {
		t.Fatalf("--no-adapter-server: open_for_read: %q", cmd)
	}
	// --no-fast-path: the commands as they were before the fast path.
	if cmd := bridgeConfig(t, loc, "--local-fs-dir", dir, "--no-fast-path").ca.Command("open_for_read"); !strings.HasPrefix(cmd, leanExec(loc)+" --catalog '"+loc+"'") || strings.Contains(cmd, "metactl_fast") {
		t.Fatalf("--no-fast-path: open_for_read: %q", cmd)
	}
	c := bridgeConfig(t, loc, "--local-fs-dir", dir)
	// The fast path first, then the same exec as without it.
	if cmd := c.ca.Command("open_for_read"); !strings.HasPrefix(lastLine(cmd), leanExec(loc)+" --catalog '"+loc+"'") || !strings.Contains(cmd, "\nmetactl_fast r") {
		t.Fatalf("open_for_read: %q", cmd)
	}
	if cmd := c.ca.Command("save_metadata_line"); !strings.HasPrefix(cmd, leanExec(loc)+" --catalog '"+loc+"'") {
		t.Fatalf("save_metadata_line: %q", cmd)
	}
	if got := lines(c.mustCall("list_metadata_files", nil, nil)); len(got) != 20 {
		t.Fatalf("listed %d files, want 20", len(got))
	}
	line := bridgeTxnLine(4501, 5000, "aaaa")
	if out := c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_4501-5000.meta"}, []byte(line)); string(out) != "metadata/transaction_4501-5000.meta\n" {
		t.Fatalf("save: %q", out)
	}
	if got, _ := storedFile(t, filepath.Join(dir, "metadata", "transaction_4501-5000.meta")); got != line {
		t.Fatalf("not written through: %q", got)
	}
	gen := stateOf(t, loc).Generation
	must(t, loc, nil, "undo", itoa(gen))
	if got := c.mustCall("open_for_read", []string{"FILE_HANDLE=metadata/transaction_4501-5000.meta"}, nil); string(got) != line {
		t.Fatalf("open_for_read after the undo: %q", got)
	}
	if got := lines(c.mustCall("list_metadata_files", nil, nil)); len(got) != 20 {
		t.Fatalf("listed %d files after the undo, want 20", len(got))
	}
}

// TestAdapterBridgeServed: with --catalog naming a served catalog, the
// read calls ask serve (one request each, one generation); a write is
// refused, since a served catalog is read-only.
func TestAdapterBridgeServed(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	url, _, _ := startServe(t, cat)
	c := bridgeConfig(t, url, "--local-fs-dir", dir)
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	if len(listed) != 20 {
		t.Fatalf("listed %d files, want 20", len(listed))
	}
	for _, h := range listed {
		got := c.mustCall("open_for_read", []string{"FILE_HANDLE=" + h}, nil)
		if want := readFile(t, filepath.Join(dir, h)); string(got) != want {
			t.Fatalf("%s: %q, want %q", h, got, want)
		}
	}
	if _, errb, code := c.call("open_for_read", []string{"FILE_HANDLE=metadata/nope_1-1.meta"}, nil); code == 0 || !strings.Contains(string(errb), "nope_1-1.meta") {
		t.Errorf("unknown handle: exit %d: %s", code, errb)
	}
	if _, errb, code := c.call("save_metadata_line", []string{"FILE_NAME=transaction_4501-5000.meta"}, []byte(bridgeTxnLine(4501, 5000, "aaaa"))); code == 0 {
		t.Errorf("a save through a served catalog: exit 0: %s", errb)
	}
}
