package catalog

// LiveLister is a Tx that lists its live files' handles more cheaply than
// [Tx.ForEachFile] can (an etcd catalog keeps a compact listing of them).
type LiveLister interface {
	// LiveHandles calls fn with the handle of every live file, in
	// handle order. An error from fn stops the walk and is returned.
	LiveHandles(fn func(handle string) error) error
}

// LiveHandles calls fn with the handle of every live file of tx, in handle
// order: through [LiveLister] if tx is one, else [Tx.ForEachFile]. It is
// what the command-adapter bridge's list_metadata_files prints.
func LiveHandles(tx Tx, fn func(handle string) error) error {
	if l, ok := tx.(LiveLister); ok {
		return l.LiveHandles(fn)
	}
	return LiveHandlesOf(tx.ForEachFile, fn)
}

// LiveHandlesOf is LiveHandles built on a backend's [Tx.ForEachFile].
func LiveHandlesOf(forEach func(withContent bool, fn func(*File) error) error, fn func(handle string) error) error {
	return forEach(false, func(f *File) error {
		if f.State != Live {
			return nil
		}
		return fn(f.Handle)
	})
}
