//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

type readCmd struct {
	Handles []string `arg:"" name:"handle" help:"Metadata file handles: metadata/x.meta, metadata_backup/x.meta, or just x.meta."`
}

func (c *readCmd) Help() string {
	return `Prints every entry of the named files as pretty JSON (two-space indent, as
serde_json's pretty printer writes it), one JSON value per entry, in file
order. Unlike Aptos's read-metadata, compacted multi-line files work. All
files are read in one read-only transaction, so they come from one committed
generation. With --json, prints one document: the generation and, per file,
its handle, state and entries.

Examples:

    metactl read metadata/epoch_ending_0-0.meta
    metactl read transaction_compacted_0-58000000.meta
    metactl --catalog backup.mcar read --json epoch_ending_0-0.meta`
}

type readFileJSON struct {
	Handle  string            `json:"handle"`
	State   catalog.State     `json:"state"`
	Entries []json.RawMessage `json:"entries"`
}

type readJSON struct {
	Generation uint64         `json:"generation"`
	Files      []readFileJSON `json:"files"`
}

// handleOf turns what the user typed into a catalog handle.
func handleOf(s string) string {
	switch {
	case strings.HasPrefix(s, "metadata/"):
		return s
	case strings.HasPrefix(s, "metadata_backup/"):
		return "metadata/" + strings.TrimPrefix(s, "metadata_backup/")
	}
	return "metadata/" + s
}

func (c *readCmd) Run(a *app) error {
	db, done, err := a.openRead("read")
	if err != nil {
		return err
	}
	defer done()
	out := readJSON{}
	var text []byte
	err = db.View(a.ctx, func(tx catalog.Tx) error {
		out.Generation = tx.Generation()
		for _, arg := range c.Handles {
			f, err := tx.File(handleOf(arg))
			if errors.Is(err, catalog.ErrNotFound) {
				return fmt.Errorf("file %q is not in the catalog (see 'metactl ls'): %w", arg, catalog.ErrNotFound)
			}
			if err != nil {
				return err
			}
			lines, err := aptos.ParseFile(f.Content)
			if err != nil {
				return fmt.Errorf("file %q: %w", f.Handle, err)
			}
			fj := readFileJSON{Handle: f.Handle, State: f.State, Entries: []json.RawMessage{}}
			for i := range lines {
				text = aptos.AppendPretty(text, &lines[i])
				text = append(text, '\n')
				fj.Entries = append(fj.Entries, aptos.AppendLine(nil, &lines[i]))
			}
			out.Files = append(out.Files, fj)
		}
		return nil
	})
	if err != nil {
		return withOp("read", err)
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	_, err = a.stdout.Write(text)
	return err
}
