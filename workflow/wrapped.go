package workflow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
)

// Wrapped is the storage a bridge config wraps: a LocalFs folder or a
// bucket's own command-adapter config. Data files go to it unchanged, and
// metadata writes are written through to it after the catalog commit.
type Wrapped struct {
	dir    string // LocalFs folder, absolute; or
	config string // command-adapter config, absolute
	ca     *storage.CommandAdapter
}

// NewWrapped returns the wrapped storage: exactly one of localFsDir (a
// LocalFs storage folder) and adapterConfig (a command-adapter YAML) must
// be given. Both are made absolute. The config is loaded and checked now.
func NewWrapped(localFsDir, adapterConfig string) (*Wrapped, error) {
	switch {
	case (localFsDir == "") == (adapterConfig == ""):
		return nil, fmt.Errorf("wrapped storage: give exactly one of a LocalFs folder and a command-adapter config: %w", aptos.ErrInvalid)
	case localFsDir != "":
		abs, err := adaptercall.LocalFsDir(localFsDir)
		if err != nil {
			return nil, err
		}
		return &Wrapped{dir: abs}, nil
	}
	abs, err := filepath.Abs(adapterConfig)
	if err != nil {
		return nil, fmt.Errorf("wrapped storage %q: %w", adapterConfig, err)
	}
	ca, err := storage.LoadCommandAdapter(abs)
	if err != nil {
		return nil, err
	}
	return &Wrapped{config: abs, ca: ca}, nil
}

// NewWrappedTimeout is NewWrapped for a command-adapter config whose
// every call is bounded by d (zero: no limit).
func NewWrappedTimeout(adapterConfig string, d time.Duration) (*Wrapped, error) {
	w, err := NewWrapped("", adapterConfig)
	if err != nil {
		return nil, err
	}
	w.ca.Timeouts = storage.Uniform(d)
	return w, nil
}

// WrapAdapter returns the wrapped storage for an adapter the caller
// already loaded from the config at path (with its own timeouts set).
func WrapAdapter(path string, ca *storage.CommandAdapter) (*Wrapped, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("wrapped storage %q: %w", path, err)
	}
	return &Wrapped{config: abs, ca: ca}, nil
}

// LocalFsDir returns the LocalFs folder, or "".
func (w *Wrapped) LocalFsDir() string { return w.dir }

// Config returns the command-adapter config's path, or "".
func (w *Wrapped) Config() string { return w.config }

// IsCommandAdapter reports whether the storage is a command-adapter
// config (a bucket) rather than a LocalFs folder.
func (w *Wrapped) IsCommandAdapter() bool { return w.ca != nil }

// Context bounds one call of the storage by timeout (zero: no limit); the
// cause of a timeout names the storage.
func (w *Wrapped) Context(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w: no answer from %s within %s, process group killed", context.DeadlineExceeded, w, timeout))
}

// String names the storage for messages.
func (w *Wrapped) String() string {
	if w.dir != "" {
		return "local-fs:" + w.dir
	}
	return "command-adapter:" + w.config
}

// wrappedData passes a data-file call (create_backup, create_for_write,
// or open_for_read of a handle [MetadataHandle] refuses) to the wrapped
// storage w, after checking that the variables it needs are set. timeout
// bounds the call, whose process group is then killed; zero means no
// limit. A failing command gives an error wrapping its *exec.ExitError
// (its stderr already went to cio.Stderr).
func wrappedData(ctx context.Context, w *Wrapped, timeout time.Duration, call string, cio CallIO) error {
	params, err := adaptercall.DataParams(call, cio)
	if err != nil {
		return err
	}
	ctx, cancel := w.Context(ctx, timeout)
	defer cancel()
	if w.ca != nil {
		return w.ca.Passthrough(ctx, call, params, cio.Stdin, cio.Stdout, cio.Stderr)
	}
	// What Aptos's LocalFs does, as the lean metactl-adapter does it.
	return adaptercall.LocalData(w.dir, call, params, cio)
}

// SaveThrough writes a metadata file the catalog committed to the
// storage: for a folder, through the safe-open layer of export
// ([storage.LocalWriter]: a temporary file in its staging folder, made
// durable, renamed into metadata/; skipped when the file there already
// holds these bytes, plain or gzip); for a bucket, its save_metadata_line.
func (w *Wrapped) SaveThrough(ctx context.Context, name string, content []byte) error {
	if w.ca != nil {
		_, err := w.ca.SaveMetadataFile(ctx, name, content)
		return err
	}
	t, err := w.localWriter(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	meta := t.Meta()
	if err := t.OpenFolder(meta, true); err != nil {
		return err
	}
	if meta.Has(name) {
		raw, _, err := t.ReadOther(meta, name)
		if err != nil {
			return err
		}
		if raw != nil {
			if same, _ := storage.Decode(raw, 0); string(same) == string(content) {
				return nil
			}
		}
	}
	write, tmp, _, err := t.StageFile(meta, name, content, false)
	if err != nil || !write {
		return err
	}
	if err := t.SyncTempFiles(); err != nil {
		t.DropTemp(tmp)
		return err
	}
	if err := t.Rename(meta, name, tmp); err != nil {
		return err
	}
	if err := t.Sync(meta); err != nil {
		return err
	}
	t.RemoveEmptyStaging()
	return t.SyncRoot()
}

// MoveThrough moves a metadata file in the storage as the catalog moved
// it: for a folder, a rename of metadata/<name> to metadata_backup/<name>
// (what LocalFs does) through the safe-open layer; for a bucket, its
// backup_metadata_file. A folder whose file is already moved needs
// nothing.
func (w *Wrapped) MoveThrough(ctx context.Context, name string) error {
	if w.ca != nil {
		return w.ca.BackupMetadataFile(ctx, aptos.LiveHandle(name))
	}
	t, err := w.localWriter(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	meta, backup := t.Meta(), t.Backup()
	if err := t.OpenFolder(meta, false); err != nil {
		return err
	}
	if err := t.OpenFolder(backup, true); err != nil {
		return err
	}
	if !meta.Has(name) {
		if backup.Has(name) {
			return nil
		}
		return fmt.Errorf("%s is in neither %s/ nor %s/", aptos.Quote(name), aptos.MetadataDir, aptos.MetadataBackupDir)
	}
	if err := t.Move(meta, backup, name); err != nil {
		return err
	}
	if err := t.Sync(backup); err != nil {
		return err
	}
	if err := t.Sync(meta); err != nil {
		return err
	}
	return t.SyncRoot()
}

// localWriter opens the LocalFs folder for one write-through, waiting up
// to writeThroughWait for an export that holds the folder's lock; after
// that the write-through fails, and the next export repairs it.
func (w *Wrapped) localWriter(ctx context.Context) (*storage.LocalWriter, error) {
	deadline := time.Now().Add(writeThroughWait)
	for {
		t, err := storage.OpenLocalWriter("write through", w.dir, true)
		if err == nil || !errors.Is(err, storage.ErrBusy) || time.Now().After(deadline) {
			return t, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeThroughWait bounds how long a write-through waits for the folder's
// export lock.
const writeThroughWait = 10 * time.Second
