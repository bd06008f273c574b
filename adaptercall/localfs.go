package adaptercall

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage/localdir"
)

// LocalFsDir returns the LocalFs storage folder dir made absolute, once
// it passes [localdir.Check] (storage.CheckLocalDir): a directory holding
// a metadata/ folder.
func LocalFsDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("wrapped storage %q: %w", dir, err)
	}
	if err := localdir.Check(abs); err != nil {
		return "", err
	}
	return abs, nil
}

// DataParams returns the variables the data-file call needs
// (create_backup, create_for_write, or open_for_read of a handle
// [MetadataHandle] refuses) as KEY=VALUE, read from cio: an unset one
// gives an error wrapping aptos.ErrInvalid, another call one wrapping
// [ErrUnknownCall].
func DataParams(call string, cio CallIO) ([]string, error) {
	var keys []string
	switch call {
	case CallCreateBackup:
		keys = []string{"BACKUP_NAME"}
	case CallCreateForWrite:
		keys = []string{"BACKUP_HANDLE", "FILE_NAME"}
	case CallOpenForRead:
		keys = []string{"FILE_HANDLE"}
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownCall, call)
	}
	params := make([]string, 0, len(keys))
	for _, k := range keys {
		v, err := Need(cio, k)
		if err != nil {
			return nil, err
		}
		params = append(params, k+"="+v)
	}
	return params, nil
}

// LocalData runs a data-file call, with the variables [DataParams]
// returned, on the LocalFs storage folder dir ([LocalFsDir]) as Aptos's
// LocalFs does: create_backup makes the backup's folder, create_for_write
// creates the file exclusively and writes stdin into it, open_for_read
// copies the file to stdout. No symbolic link is followed as a path's
// last element, and a handle that could leave dir is refused.
func LocalData(dir, call string, params []string, cio CallIO) error {
	v := func(k string) string {
		for _, p := range params {
			if after, ok := strings.CutPrefix(p, k+"="); ok {
				return after
			}
		}
		return ""
	}
	switch call {
	case CallCreateBackup:
		return localCreateBackup(dir, v("BACKUP_NAME"), cio.Stdout)
	case CallCreateForWrite:
		return localCreateForWrite(dir, v("BACKUP_HANDLE"), v("FILE_NAME"), cio)
	case CallOpenForRead:
		return localOpen(dir, v("FILE_HANDLE"), cio.Stdout)
	}
	return fmt.Errorf("%w %q", ErrUnknownCall, call)
}

// localPath resolves a handle inside the folder dir, refusing one that
// could leave it.
func localPath(dir, handle string) (string, error) {
	if !filepath.IsLocal(handle) || strings.ContainsRune(handle, 0) {
		return "", fmt.Errorf("handle %q: not a relative path inside %s: %w", handle, dir, aptos.ErrInvalidHandle)
	}
	return filepath.Join(dir, handle), nil
}

// localCreateBackup makes the backup's folder and prints its handle, the
// name, as LocalFs does.
func localCreateBackup(dir, name string, out io.WriteCloser) error {
	if err := aptos.ValidName(name); err != nil {
		return fmt.Errorf("backup name: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		return err
	}
	_, err := io.WriteString(out, name+"\n")
	return err
}

// localCreateForWrite creates BACKUP_HANDLE/FILE_NAME exclusively, prints
// its handle, closes stdout, then writes stdin into it and syncs it.
func localCreateForWrite(dir, backup, name string, cio CallIO) error {
	if err := aptos.ValidName(name); err != nil {
		return fmt.Errorf("file name: %w", err)
	}
	handle := backup + "/" + name
	path, err := localPath(dir, handle)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.WriteString(cio.Stdout, handle+"\n"); err != nil {
		return err
	}
	if err := cio.Stdout.Close(); err != nil {
		return fmt.Errorf("close stdout: %w", err)
	}
	if _, err := io.Copy(f, cio.Stdin); err != nil {
		return fmt.Errorf("%s: %w", handle, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// localOpen copies the file at handle to out.
func localOpen(dir, handle string, out io.Writer) error {
	path, err := localPath(dir, handle)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(out, f)
	return err
}
