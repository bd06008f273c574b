package importer

// SetBulkLines sets the line count from which Commit writes with
// catalog.BulkUpdater, for a test, and returns the previous one.
func SetBulkLines(n int) int {
	old := bulkLines
	bulkLines = n
	return old
}
