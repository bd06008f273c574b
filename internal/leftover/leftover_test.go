package leftover_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/internal/leftover"
)

// TestSweep: entries of a dead writer go, those of a live one, of this
// process and without an owner stay.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true:", err)
	}
	deadPid := dead.Process.Pid
	mine, err := os.CreateTemp(dir, leftover.Pattern(".a.mcar.tmp-", ""))
	if err != nil {
		t.Fatal(err)
	}
	mine.Close()
	if !strings.HasPrefix(filepath.Base(mine.Name()), ".a.mcar.tmp-"+leftover.Owner()+"-") {
		t.Errorf("name %s does not carry the owner %s", mine.Name(), leftover.Owner())
	}
	names := map[string]bool{ // name: kept
		".a.mcar.tmp-" + strconv.Itoa(deadPid) + "-12345-999": false,
		".a.mcar.tmp-1-0-999":                           true, // init: alive
		".a.mcar.tmp-random":                            true, // no owner
		".b.mcar.tmp-" + strconv.Itoa(deadPid) + "-1-9": true, // another prefix
		filepath.Base(mine.Name()):                      true,
	}
	for n := range names {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	os.Mkdir(filepath.Join(dir, ".a.mcar.tmp-"+strconv.Itoa(deadPid)+"-7-dir"), 0o700)
	names[".a.mcar.tmp-"+strconv.Itoa(deadPid)+"-7-dir"] = false
	removed := leftover.Sweep(dir, ".a.mcar.tmp-")
	if len(removed) != 2 {
		t.Errorf("removed %v, want the two of the dead writer", removed)
	}
	for n, kept := range names {
		_, err := os.Lstat(filepath.Join(dir, n))
		if (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", n, err == nil, kept)
		}
	}
}
