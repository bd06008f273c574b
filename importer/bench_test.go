package importer_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// BenchmarkFromStorage imports a LocalFs storage of 5,000 one-line files
// into a fresh catalog.
func BenchmarkFromStorage(b *testing.B) {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		b.Fatal(err)
	}
	const n = 5000
	for i := range uint64(n) {
		name := "transaction_" + strconv.FormatUint(i*10, 10) + "-" + strconv.FormatUint(i*10+9, 10) + ".meta"
		line := txn(i*10, i*10+9, "transaction_"+strconv.FormatUint(i*10, 10)+"-.3c4d/transaction.manifest")
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), []byte(line), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	src, err := storage.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		db, err := catalog.Open(b.Context(), filepath.Join(b.TempDir(), strconv.Itoa(i)+".db"), &catalog.Options{Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		res, err := importer.FromStorage(b.Context(), db, src, importer.Options{})
		if err != nil || res.Added != n {
			b.Fatalf("import: %v, %+v", err, res)
		}
		db.Close()
	}
	b.ReportMetric(float64(n), "files/op")
}
