package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// viewOnly hides ReadFile: adaptercall.ReadMetadata on it reads in a View,
// the path of every read before ReadFile.
type viewOnly struct{ catalog.DB }

// bigFile is a metadata file larger than the 4 KiB value size the test
// catalog is given, so its content is kept in chunks.
func bigFile() catalogtest.File {
	var lines []aptos.Metadata
	for i := uint64(1000); i < 1100; i++ {
		lines = append(lines, catalogtest.Transaction(i*100, i*100+99, fmt.Sprintf("transaction_%d-.aa/transaction.manifest", i*100)))
	}
	return catalogtest.File{Name: "transaction_big.meta", State: catalog.Live, Lines: lines}
}

// TestReadFileAgreesWithView: the one-transaction read answers a live and
// a moved file as a View's File does, and declines (ok false) for what it
// cannot answer alone: a chunked file, a file deleted within the undo
// window, an unknown handle. adaptercall.ReadMetadata, which uses it,
// answers every handle as it did through a View: the same content,
// generation and error.
func TestReadFileAgreesWithView(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "?value-size=4096")
	live, moved, deleted, big := txnFile(1), txnFile(2), txnFile(3), bigFile()
	moved.State = catalog.Moved
	w := open(t, loc, catalog.Options{})
	if _, err := w.Update(ctx, "import", func(tx catalog.WriteTx) error {
		for _, f := range []catalogtest.File{live, moved, deleted, big} {
			if _, err := tx.PutFile(f.NewFile("test")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Update(ctx, "undo", func(tx catalog.WriteTx) error { return tx.DeleteFile(deleted.Handle()) }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if len(big.Content()) <= 4096 {
		t.Fatalf("the large file is %d bytes, not over the value size", len(big.Content()))
	}

	db := open(t, loc, catalog.Options{ReadOnly: true})
	cases := []struct {
		name, handle string
		fast         bool // ReadFile answers it
		content      []byte
	}{
		{"live", live.Handle(), true, live.Content()},
		{"moved", moved.Handle(), true, moved.Content()},
		{"deleted within the undo window", deleted.Handle(), false, deleted.Content()},
		{"chunked", big.Handle(), false, big.Content()},
		{"unknown", aptos.LiveHandle("transaction_none.meta"), false, nil},
	}
	// ReadFiles of them all, in one transaction, answers each as ReadFile.
	var handles []string
	for _, tc := range cases {
		handles = append(handles, tc.handle)
	}
	all, allGen, err := db.ReadFiles(ctx, handles)
	if err != nil || len(all) != len(cases) {
		t.Fatalf("ReadFiles: %d files, %v", len(all), err)
	}
	for i, tc := range cases {
		f, gen, ok, err := db.ReadFile(ctx, tc.handle)
		if err != nil || ok != (all[i] != nil) || ok && (gen != allGen || fmt.Sprintf("%+v", f) != fmt.Sprintf("%+v", all[i])) {
			t.Errorf("%s: ReadFiles = %+v at %d, ReadFile = %+v at %d (ok %v, err %v)", tc.name, all[i], allGen, f, gen, ok, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, gen, ok, err := db.ReadFile(ctx, tc.handle)
			if err != nil || ok != tc.fast {
				t.Fatalf("ReadFile: ok %v, err %v; want ok %v", ok, err, tc.fast)
			}
			if ok {
				var want *catalog.File
				var wantGen uint64
				if err := db.View(ctx, func(tx catalog.Tx) (err error) {
					wantGen = tx.Generation()
					want, err = tx.File(tc.handle)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if gen != wantGen || fmt.Sprintf("%+v", f) != fmt.Sprintf("%+v", want) {
					t.Errorf("ReadFile = %+v at generation %d, View's File = %+v at %d", f, gen, want, wantGen)
				}
			}
			got, gotGen, gotErr := adaptercall.ReadMetadata(ctx, db, tc.handle)
			want, wantGen, wantErr := adaptercall.ReadMetadata(ctx, viewOnly{db}, tc.handle)
			if !bytes.Equal(got, want) || gotGen != wantGen || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("ReadMetadata = %q, %d, %v; through a View %q, %d, %v", got, gotGen, gotErr, want, wantGen, wantErr)
			}
			if !bytes.Equal(got, tc.content) {
				t.Errorf("ReadMetadata = %q, want %q", got, tc.content)
			}
			if tc.content == nil && !errors.Is(gotErr, catalog.ErrNotFound) {
				t.Errorf("ReadMetadata of an unknown handle: %v, want not found", gotErr)
			}
		})
	}
}

// TestReadFileSeesCommittedWrites: a read-only handle opened before a
// write reads what the write committed, in the next call: a new file, a
// file moved, a file deleted (then from the undo window).
func TestReadFileSeesCommittedWrites(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	putFiles(t, loc, catalog.Options{}, 1, 2)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	a, b := txnFile(1), txnFile(2)
	if _, gen, ok, err := db.ReadFile(ctx, b.Handle()); err != nil || ok {
		t.Fatalf("ReadFile of a file not yet written: ok %v, err %v at generation %d", ok, err, gen)
	}
	op := putFiles(t, loc, catalog.Options{}, 2, 3)
	f, gen, ok, err := db.ReadFile(ctx, b.Handle())
	if err != nil || !ok || gen != op.Generation || !bytes.Equal(f.Content, b.Content()) {
		t.Fatalf("ReadFile after the write: %+v at generation %d, ok %v, err %v; want the file at %d", f, gen, ok, err, op.Generation)
	}
	w := open(t, loc, catalog.Options{})
	op, err = w.Update(ctx, "compact", func(tx catalog.WriteTx) error { return tx.SetState(a.Handle(), catalog.Moved) })
	if err != nil {
		t.Fatal(err)
	}
	if f, gen, ok, err = db.ReadFile(ctx, a.Handle()); err != nil || !ok || gen != op.Generation || f.State != catalog.Moved {
		t.Fatalf("ReadFile after the move: %+v at generation %d, ok %v, err %v; want it moved at %d", f, gen, ok, err, op.Generation)
	}
	if op, err = w.Update(ctx, "undo", func(tx catalog.WriteTx) error { return tx.DeleteFile(b.Handle()) }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, _, ok, err = db.ReadFile(ctx, b.Handle()); err != nil || ok {
		t.Fatalf("ReadFile after the delete: ok %v, err %v; want it to decline", ok, err)
	}
	content, gen, err := adaptercall.ReadMetadata(ctx, db, b.Handle())
	if err != nil || gen != op.Generation || !bytes.Equal(content, b.Content()) {
		t.Fatalf("ReadMetadata after the delete: %q at generation %d, %v; want the retained content at %d", content, gen, err, op.Generation)
	}
}
