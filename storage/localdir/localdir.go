// Package localdir checks a LocalFs backup storage folder before anything
// reads or writes it. It is storage's [storage.CheckLocalDir], in a
// package of its own so the lean metactl-adapter can check the folder of
// a LocalFs data call without linking storage, whose command-adapter
// config parser (go.yaml.in/yaml/v3, with regexp and the unicode tables)
// costs every process its package initialisation: Aptos starts one
// process per call (docs/aptos-bridge.md, "A call's own CPU").
package localdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/aptos"
)

// ErrNotStorage is returned (wrapped) by [Check] for a path that is not a
// LocalFs backup storage folder (storage.ErrNotStorage is this error).
var ErrNotStorage = errors.New("not a backup storage folder")

// Check checks that dir is a LocalFs backup storage folder to read from: a
// directory holding a metadata/ folder. A path that names the metadata/
// or metadata_backup/ folder itself (an easy slip) is refused with its
// parent suggested. Errors wrap [ErrNotStorage], or the os error when dir
// cannot be inspected.
func Check(dir string) error {
	if base := filepath.Base(filepath.Clean(dir)); base == aptos.MetadataDir || base == aptos.MetadataBackupDir {
		return fmt.Errorf("local storage %s: %w: it is the %s/ folder itself; give the folder that holds it: --local-fs-dir %s",
			dir, ErrNotStorage, base, filepath.Dir(filepath.Clean(dir)))
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local storage %s: %w: it does not exist (expected a folder holding metadata/ and metadata_backup/)", dir, ErrNotStorage)
	}
	if err != nil {
		return fmt.Errorf("local storage: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("local storage %s: %w: not a directory (expected a folder holding metadata/ and metadata_backup/)", dir, ErrNotStorage)
	}
	meta := filepath.Join(dir, aptos.MetadataDir)
	st, err = os.Stat(meta)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local storage %s: %w: it has no %s/ folder (expected a LocalFs backup storage folder holding metadata/ and metadata_backup/)",
			dir, ErrNotStorage, aptos.MetadataDir)
	}
	if err != nil {
		return fmt.Errorf("local storage: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("local storage %s: %w: %s is not a directory", dir, ErrNotStorage, meta)
	}
	return nil
}
