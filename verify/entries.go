package verify

import (
	"fmt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Entries returns every entry of the files in state ([catalog.Live] or
// [catalog.Moved]), in handle order and line order, each with its handle and
// 1-based line. Identity and CompactionTimestamps lines are included. A
// moved file is named where it lies, "metadata_backup/<name>".
func Entries(tx catalog.Tx, state catalog.State) ([]aptos.Located, error) {
	var out []aptos.Located
	err := tx.ForEachFile(true, func(f *catalog.File) error {
		if f.State != state {
			return nil
		}
		lines, err := aptos.ParseFile(f.Content)
		if err != nil {
			return fmt.Errorf("read %s: %w: %w", f.Handle, catalog.ErrCorrupt, err)
		}
		where := f.Handle
		if f.State == catalog.Moved {
			where = aptos.MovedHandle(f.Name())
		}
		for i, m := range lines {
			out = append(out, aptos.Located{Handle: where, Line: i + 1, Entry: m})
		}
		return nil
	})
	return out, err
}
