//go:build !unix

package main

import (
	"fmt"
	"os"
)

// On a system that is not Unix (Windows, Plan 9, wasm) metactl builds to
// this stub, which says so. metactl needs Unix: the catalog's locks are
// flock(2) (bbolt's and the writer-preference gate), liveness checks of a
// lock holder use kill(pid, 0), and export writes the storage folder with
// openat(2), O_NOFOLLOW and renameat(2), so that no symlink planted in
// the folder can redirect a write. Every other file of this command is
// built only on Unix (//go:build unix); the layout test checks that.
func main() {
	fmt.Fprintln(os.Stderr, "metactl: this system is not supported: metactl needs Unix (Linux, macOS, the BSDs); see the README")
	os.Exit(1)
}
