package importer

// SetBulkLines sets the line count from which Commit writes with
// catalog.BulkUpdater, for a test, and returns the previous one.
func SetBulkLines(n int) int {
	old := bulkLines
	bulkLines = n
	return old
}

// SetSpoolBytes sets how much of the files read a Batch holds in memory
// before it spools the rest (0: every file is spooled), for a test, and
// returns the previous value.
func SetSpoolBytes(n int64) int64 {
	old := spoolBytes
	spoolBytes = n
	return old
}
