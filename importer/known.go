package importer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/storage"
)

// ErrStale is returned (wrapped) by [Batch.Commit] when the batch was read
// incrementally ([Options.Known]) and the catalog has since lost a file the
// batch took as known without reading it (an undo or a cleanup committed in
// between): the batch has no content for it. Read the source again with a
// fresh [LoadKnown] and commit that; it is rare, and nothing was written.
var ErrStale = errors.New("the catalog changed since the storage was read")

// Known is what a catalog held when an incremental import began: the
// handles of its files, and for each the storage stat its provenance
// records (see [Provenance]). [Read] given a Known opens only the listed
// files it does not hold, so a sync costs one listing plus the new files.
// A Known is read-only after [LoadKnown] and safe for concurrent use.
type Known struct {
	files map[string]knownFile
}

type knownFile struct {
	stat    storage.Stat
	folder  string // the folder the stat is of; "" if none is recorded
	hasStat bool
}

// LoadKnown reads the handles of db's files (no content) in one read-only
// transaction.
func LoadKnown(ctx context.Context, db catalog.DB) (*Known, error) {
	k := &Known{files: map[string]knownFile{}}
	err := db.View(ctx, func(tx catalog.Tx) error {
		return tx.ForEachFile(false, func(f *catalog.File) error {
			var kf knownFile
			if folder, st, ok := ParseProvenance(f.Source); ok {
				kf = knownFile{stat: st, folder: folder, hasStat: true}
			}
			k.files[f.Handle] = kf
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("import: read the catalog's files: %w", err)
	}
	return k, nil
}

// Len returns the number of files known.
func (k *Known) Len() int {
	if k == nil {
		return 0
	}
	return len(k.files)
}

// Provenance returns the provenance recorded for a file read from
// source's folder ("metadata" or "metadata_backup") with stat st:
// "<source> (<folder>/ <size> bytes, mtime <unix ns>)". The catalog keeps
// provenance as free text; this suffix is how an incremental import finds
// the stat again ([ParseProvenance]) without a schema change, on every
// backend.
func Provenance(source, folder string, st storage.Stat) string {
	// By hand, with one allocation: it runs once per file read, and
	// Sprintf was 1.7% of the CPU of a first import of 40k one-line files.
	var b strings.Builder
	b.Grow(len(source) + len(folder) + 64)
	b.WriteString(source)
	b.WriteString(" (")
	b.WriteString(folder)
	b.WriteString("/ ")
	var n [20]byte
	b.Write(strconv.AppendInt(n[:0], st.Size, 10))
	b.WriteString(" bytes, mtime ")
	b.Write(strconv.AppendInt(n[:0], st.ModTime, 10))
	b.WriteByte(')')
	return b.String()
}

// ParseProvenance returns the folder and stat [Provenance] recorded in p,
// or ok false if p records none (a file read through a command adapter,
// written by compaction, or imported before stats were recorded).
func ParseProvenance(p string) (folder string, st storage.Stat, ok bool) {
	_, folder, st, ok = splitProvenance(p)
	return folder, st, ok
}

// splitProvenance parses what Provenance wrote, by hand: it runs once per
// catalog file on every incremental import (a regular expression was a
// sixth of a no-op import's CPU time).
func splitProvenance(p string) (source, folder string, st storage.Stat, ok bool) {
	i := strings.LastIndex(p, " (")
	if i < 0 || !strings.HasSuffix(p, ")") {
		return "", "", storage.Stat{}, false
	}
	folder, rest, ok1 := strings.Cut(p[i+2:len(p)-1], "/ ")
	size, mtime, ok2 := strings.Cut(rest, " bytes, mtime ")
	if !ok1 || !ok2 || (folder != aptos.MetadataDir && folder != aptos.MetadataBackupDir) || !digits(size) || !digits(mtime) {
		return "", "", storage.Stat{}, false
	}
	n, err1 := strconv.ParseInt(size, 10, 64)
	m, err2 := strconv.ParseInt(mtime, 10, 64)
	if err1 != nil || err2 != nil {
		return "", "", storage.Stat{}, false
	}
	return p[:i], folder, storage.Stat{Size: n, ModTime: m}, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// skipKnown reports whether the listed file rd need not be opened: the
// catalog holds its name and, where the source can stat it and the
// catalog recorded the stat of a copy in the same folder, size and mtime
// are unchanged. statFn is nil for a source that cannot stat. It also
// returns the stat taken (zero, ok false, if none), for the provenance of
// a file that is read after all. A file the catalog does not know is not
// stat'ed when its read returns the stat (r.readStat): it is read anyway.
func (r *run) skipKnown(ctx context.Context, statFn statFunc, rd toRead) (skip bool, st storage.Stat, hasStat bool, err error) {
	folder := aptos.MetadataDir
	if rd.state == catalog.Moved {
		folder = aptos.MetadataBackupDir
	}
	var kf knownFile
	known := false
	if r.opts.Known != nil { // a first import knows nothing: no handle to build per file
		h := rd.handle // a live file's handle is the catalog's
		if rd.state != catalog.Live {
			h = aptos.LiveHandle(rd.name)
		}
		kf, known = r.opts.Known.lookup(h)
	}
	if known && (statFn == nil || !kf.hasStat || kf.folder != folder) {
		// Nothing to compare with (a moved copy, a file compaction
		// wrote, a command adapter's): the name is trusted, as Aptos
		// trusts it.
		return true, storage.Stat{}, false, nil
	}
	if !known && r.readStat != nil {
		return false, storage.Stat{}, false, nil // new: its read takes the stat
	}
	if statFn != nil {
		if st, err = statFn(ctx, rd.handle); err == nil {
			hasStat = true
		} else if ctx.Err() != nil {
			return false, storage.Stat{}, false, ctx.Err()
		} else {
			// Reading gives the precise error (gone, not regular, ...).
			st, err = storage.Stat{}, nil
		}
	}
	if known && hasStat && kf.stat == st {
		return true, st, hasStat, nil
	}
	return false, st, hasStat, nil // new, or changed in place: read it
}

func (k *Known) lookup(handle string) (knownFile, bool) {
	if k == nil {
		return knownFile{}, false
	}
	kf, ok := k.files[handle]
	return kf, ok
}

// statFunc stats one file of a source (storage.Statter.StatFile).
type statFunc func(ctx context.Context, handle string) (storage.Stat, error)
