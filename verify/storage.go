package verify

import (
	"context"
	"fmt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// CodeStorageChanged is the problem a storage file gets whose content
// differs from the catalog's file of the same name: an incremental import
// trusts a known name and never reads it again, so this is how a file
// changed in a bucket is found.
const CodeStorageChanged = "storage-content-changed"

// AgainstCatalog compares the files of a storage, read whole into the
// catalog st (verify --local-fs-dir / --command-adapter-config), with the
// catalog cat: every name both hold must have the same content. It returns
// one problem per file that differs, in handle order; files only one of
// them holds are not problems (new files, files a compaction wrote).
func AgainstCatalog(ctx context.Context, st, cat catalog.DB) ([]Finding, error) {
	inCatalog := map[string]*catalog.File{}
	if err := cat.View(ctx, func(tx catalog.Tx) error {
		return tx.ForEachFile(false, func(f *catalog.File) error {
			inCatalog[f.Handle] = f
			return nil
		})
	}); err != nil {
		return nil, fmt.Errorf("verify: read catalog: %w", err)
	}
	var out []Finding
	err := st.View(ctx, func(tx catalog.Tx) error {
		return tx.ForEachFile(false, func(f *catalog.File) error {
			c, ok := inCatalog[f.Handle]
			if !ok || c.SHA256 == f.SHA256 {
				return nil
			}
			where := f.Handle
			if f.State == catalog.Moved {
				where = aptos.MovedHandle(f.Name())
			}
			out = append(out, Finding{Code: CodeStorageChanged,
				Message: fmt.Sprintf("%s in the storage holds other content (sha256 %x, %d bytes) than the catalog's file of that name (sha256 %x, %d bytes, from %s); a file's content never changes: find which is right, then replace the storage's copy (metactl export) or import it with --full after fixing the catalog",
					where, f.SHA256[:8], f.Size, c.SHA256[:8], c.Size, c.Source),
				Where: []string{where}})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("verify: read storage: %w", err)
	}
	return out, nil
}
