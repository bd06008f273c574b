// Package adaptercall answers the calls of a command-adapter config that
// need no catalog write: the calls' names and I/O, the data calls on a
// LocalFs folder a bridge config wraps ([LocalData]), and the two read
// calls, list_metadata_files and open_for_read of a metadata file, on an
// open catalog.
//
// It is the part of the bridge that the lean metactl-adapter links: Aptos
// starts one process per call (40,000 for a fresh metadata sync), so each
// package here costs every call its initialisation. It imports the catalog
// API, the Aptos model and storage/localdir, nothing that writes a catalog
// (importer, compaction, export, the archive format) and not the storage
// layer, whose command-adapter config parser (YAML, with regexp) alone was
// about a tenth of a call's CPU. The writes, save_metadata_line and
// backup_metadata_file, and the wrapped storage as a whole (a bucket's
// config, the write-through) are workflow's (workflow.Wrapped).
package adaptercall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// The six calls of an Aptos command-adapter config (docs/aptos-format.md
// §9.2), as `metactl adapter CALL` names them.
const (
	CallCreateBackup       = "create_backup"
	CallCreateForWrite     = "create_for_write"
	CallOpenForRead        = "open_for_read"
	CallSaveMetadataLine   = "save_metadata_line"
	CallListMetadataFiles  = "list_metadata_files"
	CallBackupMetadataFile = "backup_metadata_file"
)

// Calls lists the calls in the order a generated config writes them.
var Calls = []string{CallCreateBackup, CallCreateForWrite, CallOpenForRead,
	CallSaveMetadataLine, CallListMetadataFiles, CallBackupMetadataFile}

// CallerGOMAXPROCS is the variable in which a generated config's command
// hands metactl-adapter the caller's GOMAXPROCS (empty if unset), having
// set GOMAXPROCS=1 for metactl-adapter alone: the Go runtime reads it
// before any of the program's code runs, and a call on one P starts no
// second scheduler thread (docs/aptos-bridge.md, "What a call costs").
// metactl-adapter puts the caller's value back before it runs anything
// (metactl, the wrapped storage's commands, the adapter server).
const CallerGOMAXPROCS = "METACTL_ADAPTER_CALLER_GOMAXPROCS"

// ErrUnknownCall is returned for a call name that is not one of [Calls].
var ErrUnknownCall = errors.New("unknown command-adapter call")

// CallIO is what one adapter call gets from Aptos: the call's variables
// (Getenv, normally os.LookupEnv) and the three standard streams.
type CallIO struct {
	Getenv func(string) (string, bool)
	Stdin  io.Reader
	// Stdout receives the call's output. save_metadata_line and
	// create_for_write close it once the handle is written, before
	// reading Stdin, as Aptos's stdout contract requires.
	Stdout io.WriteCloser
	Stderr io.Writer
}

// Need returns the call variable key, which Aptos always sets; an unset
// one gives an error wrapping aptos.ErrInvalid.
func Need(cio CallIO, key string) (string, error) {
	v, ok := cio.Getenv(key)
	if !ok {
		return "", fmt.Errorf("variable %s is not set (Aptos sets it for this call): %w", key, aptos.ErrInvalid)
	}
	return v, nil
}

// MetadataHandle reports whether an open_for_read handle names a metadata
// file, and returns its catalog handle: "metadata/<name>" for
// "metadata/<name>" and for "metadata_backup/<name>" (where a moved file
// lives in a legacy storage). Every other handle is a data file.
func MetadataHandle(h string) (string, bool) {
	dir, name, ok := strings.Cut(h, "/")
	if !ok || (dir != aptos.MetadataDir && dir != aptos.MetadataBackupDir) {
		return "", false
	}
	return aptos.LiveHandle(name), true
}

// List writes the live handles of one generation of db, read in one
// read-only transaction, one per line in handle order, and returns the
// generation.
func List(ctx context.Context, db catalog.DB, out io.Writer) (gen uint64, err error) {
	w := bufio.NewWriterSize(out, 64<<10)
	err = db.View(ctx, func(tx catalog.Tx) error {
		gen = tx.Generation()
		return catalog.LiveHandles(tx, func(h string) error {
			w.WriteString(h)
			return w.WriteByte('\n')
		})
	})
	if err != nil {
		return 0, err
	}
	return gen, w.Flush()
}

// ReadMetadata returns the content of the metadata file handle
// ("metadata/<name>") as one committed generation holds it: a live or
// moved file, or a file deleted (by an undo, or a cleanup) whose content
// the catalog still retains within the undo window. So a client that
// listed a generation and opens its files afterwards finds every one of
// them. An unknown handle gives an error naming it that wraps
// catalog.ErrNotFound.
//
// A DB that reads a file in one request ([catalog.FileReader]: etcd) answers
// a live or moved file so; everything else is read in a View.
func ReadMetadata(ctx context.Context, db catalog.DB, handle string) (content []byte, gen uint64, err error) {
	if r, ok := db.(catalog.FileReader); ok {
		f, gen, ok, err := r.ReadFile(ctx, handle)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return f.Content, gen, nil
		}
	}
	err = db.View(ctx, func(tx catalog.Tx) error {
		gen = tx.Generation()
		f, err := tx.File(handle)
		if err == nil {
			content = f.Content
			return nil
		}
		if !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		content, err = tx.DeletedContent(handle)
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("metadata file %q is not in the catalog (generation %d), nor deleted within the undo window: %w", handle, gen, catalog.ErrNotFound)
		}
		return err
	})
	return content, gen, err
}

// NeedsStorage reports whether call, with the variables getenv gives,
// uses the wrapped storage: every call but list_metadata_files and
// open_for_read of a metadata file, which the catalog answers alone (and
// open_for_read without FILE_HANDLE, which fails on that first). A caller
// loads the storage, parsing a bucket's YAML config, only when it does:
// a metadata sync is one process per file.
func NeedsStorage(call string, getenv func(string) (string, bool)) bool {
	switch call {
	case CallListMetadataFiles:
		return false
	case CallOpenForRead:
		h, ok := getenv("FILE_HANDLE")
		if !ok {
			return false
		}
		_, meta := MetadataHandle(h)
		return !meta
	}
	return true
}
