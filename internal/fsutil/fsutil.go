// Package fsutil holds the file-system steps that several packages need
// exactly alike.
package fsutil

import "os"

// SyncDir fsyncs the folder dir, making the creation, removal and renaming
// of its entries durable (a file's own fsync does not).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
