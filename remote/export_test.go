package remote

// SetPageSize sets the listing's page size for a test.
func SetPageSize(n int) func() {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}
