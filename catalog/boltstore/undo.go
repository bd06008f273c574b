package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
)

// Failpoints inside the undo transaction, in order.
const (
	FailpointUndoAfterCheck   = "undo.after-check"
	FailpointUndoAfterRestore = "undo.after-restore"
)

// Undo reverses the operation committed at generation gen as a new write
// transaction of kind "undo", whose Operation records Undoes = gen: every
// file gen added is removed (and recorded as deleted), every file it
// replaced, moved, revived or deleted is restored exactly as it was
// (content, state, provenance and times). The view digest the undo ends
// with must equal the digest before gen adjusted by what later operations
// changed (the digest before gen itself when gen is the newest); Update
// checks it before commit.
//
// Undo refuses, with an *UndoRefusedError, an operation that is not in the
// journal's change records (committed by an older metactl), one already
// undone, one whose files a later operation changed again (naming that
// operation: undo it first), one whose change records a cleanup purged
// after the grace period, and one whose reversal would not give that
// digest (naming the first later operation that depends on the view gen
// left). With dry true it does all of this, checks included, and rolls
// back: the returned Operation is what would be committed.
func (db *boltDB) Undo(ctx context.Context, gen uint64, dry bool) (*catalog.Operation, error) {
	return db.update(ctx, catalog.KindUndo, dry, func(tx *boltTx) error { return tx.undo(gen) })
}

// operation reads the journal record of generation gen.
func (tx *boltTx) operation(gen uint64) (*catalog.Operation, error) {
	v := tx.btx.Bucket(bucketJournal).Get(u64(gen))
	if v == nil {
		return nil, fmt.Errorf("undo generation %d: not in the journal (the catalog is at generation %d): %w", gen, tx.gen, catalog.ErrNotFound)
	}
	return decodeOperation(gen, v)
}

// decodeOperation decodes the journal record of generation gen.
func decodeOperation(gen uint64, v []byte) (*catalog.Operation, error) {
	var op catalog.Operation
	if err := json.Unmarshal(v, &op); err != nil {
		return nil, fmt.Errorf("read journal record %d: %w: %w", gen, catalog.ErrCorrupt, err)
	}
	return &op, nil
}

// later calls fn for each journal record after gen, oldest first, until fn
// returns false.
func (tx *boltTx) later(gen uint64, fn func(*catalog.Operation) bool) error {
	c := tx.btx.Bucket(bucketJournal).Cursor()
	for k, v := c.Seek(u64(gen + 1)); k != nil; k, v = c.Next() {
		op, err := decodeOperation(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return err
		}
		if !fn(op) {
			return nil
		}
	}
	return nil
}

func (tx *boltTx) undo(gen uint64) error {
	target, err := tx.operation(gen)
	if err != nil {
		return err
	}
	refuse := func(reason string, by *catalog.Operation, hint string) error {
		return &catalog.UndoRefusedError{Generation: gen, Reason: reason, By: by, Hint: hint}
	}
	if by, ok := tx.purgedBy(gen); ok {
		byOp, err := tx.operation(by)
		if err != nil {
			return err
		}
		return refuse("its change records were purged after the grace period", byOp, "")
	}
	chs, err := tx.changesOf(gen)
	if err != nil {
		return err
	}
	if len(chs) == 0 {
		return refuse(fmt.Sprintf("the %s at %s was committed by a metactl that kept no change records, so what it changed is not known exactly",
			target.Kind, target.Time.UTC().Format(time.RFC3339)), nil, "")
	}
	var undoneBy *catalog.Operation
	if err := tx.later(gen, func(op *catalog.Operation) bool {
		if op.Kind == catalog.KindUndo && op.Undoes == gen && undoneBy == nil {
			undoneBy = op
		}
		return true
	}); err != nil {
		return err
	}
	if undoneBy != nil {
		return refuse("already undone", undoneBy, "")
	}
	files := tx.btx.Bucket(bucketFiles)
	changes := tx.btx.Bucket(bucketChanges)
	for _, ch := range chs {
		cur := files.Get([]byte(ch.handle))
		same := cur == nil && ch.stateAfter == 0
		if cur != nil && ch.stateAfter != 0 && len(cur) >= fileRecFixedLen {
			same = catalog.State(cur[1]) == ch.stateAfter && string(cur[18:50]) == string(ch.shaAfter[:])
		}
		if !same {
			var by *catalog.Operation
			if err := tx.later(gen, func(op *catalog.Operation) bool {
				if changes.Get(changeKey(op.Generation, ch.handle)) != nil {
					by = op
					return false
				}
				return true
			}); err != nil {
				return err
			}
			if by == nil {
				return refuse(fmt.Sprintf("%s was changed since by an operation that kept no change records", ch.handle), nil, "")
			}
			return refuse(fmt.Sprintf("%s was changed since", ch.handle), by, "undo that operation first")
		}
	}
	failpoint.Hit(FailpointUndoAfterCheck)

	for _, ch := range chs {
		if err := tx.restore(ch); err != nil {
			return fmt.Errorf("undo generation %d: restore %s: %w", gen, ch.handle, err)
		}
	}
	failpoint.Hit(FailpointUndoAfterRestore)

	// Later operations' view changes stay; gen's go.
	want := tx.op.DigestBefore.Plus(target.DigestBefore).Minus(target.DigestAfter)
	tx.expect = &want
	tx.expectErr = func(got aptos.Digest) error {
		var by *catalog.Operation
		if err := tx.later(gen, func(op *catalog.Operation) bool {
			// Any later operation that changed the view, or made files
			// live, may hold the entries the reversal expected to go.
			if op.DigestBefore != op.DigestAfter || op.Added.Count+op.Revived.Count+op.Replaced.Count > 0 {
				by = op
				return false
			}
			return true
		}); err != nil {
			return err
		}
		reason := fmt.Sprintf("the reversal would leave view digest %s, not %s", got.Short(), want.Short())
		if by == nil {
			return refuse(reason, nil, "")
		}
		return refuse(reason+": the view it left was used", by, "undo that operation first")
	}
	tx.op.Undoes = gen
	tx.op.Inputs = []string{fmt.Sprintf("generation=%d", gen)}
	tx.op.Note = fmt.Sprintf("undo generation %d (%s)", gen, target.Kind)
	if target.Note != "" {
		tx.op.Note += ": " + strings.TrimSpace(target.Note)
	}
	return nil
}

// restore brings one handle back to its before-image.
func (tx *boltTx) restore(ch *change) error {
	files := tx.btx.Bucket(bucketFiles)
	tx.touch(ch.handle)
	cur := files.Get([]byte(ch.handle))
	var curFile *catalog.File
	if cur != nil {
		var err error
		if curFile, err = tx.decodeFile(ch.handle, cur, true); err != nil {
			return err
		}
		if err := tx.dropFile(ch.handle, cur); err != nil {
			return err
		}
	}
	if ch.stateBefore == 0 {
		// gen added it: it goes, and is recorded as deleted unless it was
		// recorded so before gen.
		del := ch.deleted
		if del == nil && curFile != nil {
			del = encodeDeleted(curFile, tx.gen+1, tx.now)
		}
		if err := tx.setDeleted(ch.handle, del); err != nil {
			return err
		}
		tx.op.Deleted.Add(ch.handle)
		return nil
	}
	rec := ch.image
	if ch.flags&changeContentSame != 0 {
		rec = append(append([]byte(nil), rec...), curFile.Content...)
	}
	f, err := decodeFileRecord(ch.handle, rec, true)
	if err != nil {
		return err
	}
	if f.SHA256 != contentSHA(f.Content) {
		return fmt.Errorf("retained content does not match its sha256: %w", catalog.ErrCorrupt)
	}
	lines, err := aptos.ParseFile(f.Content)
	if err != nil {
		return fmt.Errorf("retained content does not parse: %w: %w", catalog.ErrCorrupt, err)
	}
	if err := tx.noteIdentities(ch.handle, lines); err != nil {
		return err
	}
	if err := files.Put([]byte(ch.handle), rec); err != nil {
		return err
	}
	tx.noteAfter(ch.handle, rec)
	tx.st.noteFile(f.State, +1)
	if f.State == catalog.Live {
		if err := tx.index(ch.handle, lines, +1, nil); err != nil {
			return err
		}
	}
	if err := tx.setDeleted(ch.handle, ch.deleted); err != nil {
		return err
	}
	switch {
	case curFile == nil:
		tx.op.Added.Add(ch.handle)
	case curFile.SHA256 != f.SHA256:
		tx.op.Replaced.Add(ch.handle)
	case f.State == catalog.Moved:
		tx.op.Moved.Add(ch.handle)
	default:
		tx.op.Revived.Add(ch.handle)
	}
	return nil
}
