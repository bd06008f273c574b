package importer

import (
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Quarantined is a file an import with Options.Quarantine set aside: it
// failed to parse or validate, and the catalog records it
// (catalog.QuarantinedFile) instead of refusing the whole import.
type Quarantined struct {
	// Handle names the file as the storage does ("metadata/x.meta", or
	// "metadata_backup/x.meta").
	Handle string `json:"handle"`
	// Error is every problem of the file, as import would have refused
	// it, one per line.
	Error string `json:"error"`
}

// quarantined is one file to set aside, with what the catalog records.
type quarantined struct {
	handle string // catalog handle, metadata/<name>
	shown  string
	state  catalog.State
	err    string
	it     *item // the file's item, if it could be read: its content (item.content)
	source string
}

// problemsText joins a file's problems as import prints them.
func problemsText(ps []Problem) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// setAside records the file with problems ps (its item it, or nil if it
// could not be read) as quarantined instead of refusing the import.
func (r *run) setAside(shown, name string, state catalog.State, it *item, ps []Problem) {
	q := &quarantined{handle: aptos.LiveHandle(name), shown: shown, state: state, err: problemsText(ps), source: r.opts.Source}
	if it != nil {
		q.it, q.source = it, it.Source
	}
	r.aside = append(r.aside, q)
}

// writeQuarantine records the files set aside and releases the quarantine
// records this import settles: a name now imported as a good file, or no
// longer listed by the source (a moved one only if the source listed
// metadata_backup/). It runs in the import's write transaction.
func (r *run) writeQuarantine(tx catalog.WriteTx, items []*item, p *plan, res *Result) error {
	listed := make(map[string]bool, len(items)+len(r.aside))
	for _, it := range items {
		listed[it.Handle] = true
	}
	aside := make(map[string]bool, len(r.aside))
	for _, q := range r.aside {
		listed[q.handle], aside[q.handle] = true, true
		var data []byte
		if q.it != nil {
			var err error
			if data, err = q.it.content(); err != nil { // read back if spooled
				return err
			}
		}
		if err := tx.Quarantine(catalog.QuarantinedFile{Handle: q.handle, State: q.state, Error: q.err, Content: data, Source: q.source}); err != nil {
			return err
		}
		res.Quarantined = append(res.Quarantined, Quarantined{Handle: q.shown, Error: q.err})
	}
	var release []string
	if err := tx.QuarantinedFiles(func(q *catalog.QuarantinedFile) error {
		if aside[q.Handle] {
			return nil
		}
		if _, err := tx.File(q.Handle); err == nil || (!listed[q.Handle] && (r.movedListed || q.State == catalog.Live)) {
			release = append(release, q.Handle)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, h := range release {
		if err := tx.Release(h); err != nil {
			return err
		}
	}
	res.Released = release
	return nil
}
