package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/aptos"
)

// Stat is what a storage says of a file without opening it: its size as
// stored (compressed, for a gzip copy) and its modification time. An
// incremental import records it with a file it read and compares it with
// the next listing's, to notice a known name whose bytes changed in place.
type Stat struct {
	Size    int64 // bytes as stored
	ModTime int64 // modification time, Unix nanoseconds
}

// Statter is a [Source] that can stat a file without opening it ([Local]).
// A command adapter has no such command: its listing gives names only.
type Statter interface {
	// StatFile returns the Stat of handle ("metadata/x" or
	// "metadata_backup/x") without following a symbolic link; a missing
	// file gives an error wrapping fs.ErrNotExist.
	StatFile(ctx context.Context, handle string) (Stat, error)
}

var _ Statter = (*Local)(nil)

// StatReader is a [FileReader] that returns, with a file's content, the
// Stat of the file it read ([LocalReader]): an import of a file it does
// not know needs no separate stat before the read.
type StatReader interface {
	// ReadFileStat is ReadFile, and the read file's Stat.
	ReadFileStat(ctx context.Context, handle string, max int64) ([]byte, Stat, error)
}

// StatFile implements [Statter]: one lstat, no open.
func (l *Local) StatFile(ctx context.Context, handle string) (Stat, error) {
	if err := ctx.Err(); err != nil {
		return Stat{}, err
	}
	dir, name, err := aptos.ParseHandle(handle)
	if err != nil {
		return Stat{}, fmt.Errorf("stat: %w", err)
	}
	st, err := os.Lstat(filepath.Join(l.Dir, dir, name))
	if err != nil {
		return Stat{}, fmt.Errorf("stat %q: %w", handle, err)
	}
	return Stat{Size: st.Size(), ModTime: st.ModTime().UnixNano()}, nil
}
