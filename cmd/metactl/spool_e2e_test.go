package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpooledImportOnAFullDisk: an import into an existing catalog large
// enough to spool (importer/spool.go: past 32 MiB of files read) whose
// spool fills the catalog's disk fails naming ENOSPC, leaves the catalog
// byte for byte as it was and nothing beside it, and the same import
// succeeds once there is room.
func TestSpooledImportOnAFullDisk(t *testing.T) {
	fileBackendOnly(t, "fills the disk of a catalog file")
	if testing.Short() {
		t.Skip("imports 150k lines")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	// 150,000 lines in 1,500 files of 100: about 19 MB of content and
	// 30 MB of parsed lines, so about a third is spooled.
	st := filepath.Join(t.TempDir(), "storage")
	os.MkdirAll(filepath.Join(st, "metadata"), 0o755)
	var b bytes.Buffer
	for f := range 1500 {
		b.Reset()
		for i := range 100 {
			a := (f*100 + i) * 10
			fmt.Fprintf(&b, `{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.%04x/transaction.manifest"}}`+"\n", a, a+9, a, i)
		}
		name := fmt.Sprintf("transaction_compacted_%d-%d.meta", f*1000, f*1000+999)
		if err := os.WriteFile(filepath.Join(st, "metadata", name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(t.TempDir(), "seed")
	os.MkdirAll(filepath.Join(seed, "metadata"), 0o755)
	if err := os.WriteFile(filepath.Join(seed, "metadata", "transaction_0-9.meta"),
		[]byte(`{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"transaction_0-.0000/transaction.manifest"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	cat := filepath.Join(mnt, "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", seed)
	before, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	r := metactl(t, cat, nil, "import", "--local-fs-dir", st)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "spool") {
		t.Fatalf("import on a full disk: want exit 1 naming the spool and ENOSPC, got %s", r)
	}
	after, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the failed import changed the catalog")
	}
	ents, _ := os.ReadDir(mnt)
	for _, e := range ents {
		if n := e.Name(); n != "c.db" && n != "c.db.lock" {
			t.Errorf("the failed import left %s beside the catalog", n)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,size=256m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	r = must(t, cat, nil, "import", "--local-fs-dir", st)
	if !strings.Contains(r.stdout, "1500 files, 150000 lines, 150000 entries in the view (1 duplicate line)") {
		t.Errorf("import with room: %s", r)
	}
}
