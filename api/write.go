package api

import (
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
)

// The documents of the write commands (import, compact, cleanup, copy,
// undo): the CLI prints them with --json; serve writes nothing.

// Cleanup is the document of cleanup.
type Cleanup struct {
	DryRun     bool     `json:"dry_run"`
	Cutoff     string   `json:"cutoff"`
	Deleted    []string `json:"deleted"`
	Purged     int      `json:"purged"`
	Generation uint64   `json:"generation"`
}

// Compact is the document of compact.
type Compact struct {
	DryRun         bool               `json:"dry_run"`
	Now            string             `json:"now"`
	Written        []string           `json:"written"`
	Timestamped    []string           `json:"timestamped"`
	Moved          []string           `json:"moved"`
	Skipped        []string           `json:"skipped"`
	TimestampsFile string             `json:"timestamps_file"`
	Changed        bool               `json:"changed"`
	Generation     uint64             `json:"generation"`
	ViewDigest     string             `json:"view_digest,omitempty"`
	Warnings       []importer.Warning `json:"warnings"`
	// Storage says what the drop-in did to the storage (only with
	// --local-fs-dir or --command-adapter-config).
	Storage *Storage `json:"storage,omitempty"`
}

// Storage is the storage side of the drop-in compaction: the sync
// (import) before, the publish (export) after.
type Storage struct {
	Target string `json:"target"`
	// Synced is what the import before the compaction did; in a dry run,
	// what it did to a scratch copy of the catalog (the catalog itself is
	// unchanged), so the plan is the real run's.
	Synced *Sync `json:"synced"`
	// Published is what writing the result back did (or would do); null
	// when there was nothing to compact, and nothing was written.
	Published *export.Result `json:"published"`
}

// Sync is what the import before a drop-in compaction did.
type Sync struct {
	Added     int `json:"added"`
	Moved     int `json:"moved"`
	Unchanged int `json:"unchanged"`
	// Quarantined lists the files set aside (compact --quarantine).
	Quarantined []importer.Quarantined `json:"quarantined"`
}

// Copy is the document of copy.
type Copy struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Generation uint64 `json:"generation"`
}

// Import is the document of import.
type Import struct {
	Source string `json:"source"`
	Files  int    `json:"files"`
	Lines  int    `json:"lines"`
	// KnownSkipped counts listed files not read: the catalog holds them.
	KnownSkipped int      `json:"known_skipped"`
	Entries      int      `json:"entries"`
	Duplicates   int      `json:"duplicates"`
	Added        int      `json:"added"`
	Moved        int      `json:"moved"`
	Unchanged    int      `json:"unchanged"`
	Missing      []string `json:"missing"`
	Skipped      []string `json:"skipped"`
	KeptMoved    []string `json:"kept_moved"`
	// DeletedInStorage: moved files cleanup deleted that the storage
	// still holds; not imported again.
	DeletedInStorage []string           `json:"deleted_in_storage"`
	Warnings         []importer.Warning `json:"warnings"`
	// Quarantined lists the files set aside (--quarantine), with their
	// error; Released the quarantine records this import removed.
	Quarantined  []importer.Quarantined `json:"quarantined"`
	Released     []string               `json:"released"`
	Changed      bool                   `json:"changed"`
	Generation   uint64                 `json:"generation"`
	DigestBefore aptos.Digest           `json:"digest_before"`
	DigestAfter  aptos.Digest           `json:"digest_after"`
}

// ArchiveImport is the document of import --archive.
type ArchiveImport struct {
	Archive           string             `json:"archive"`
	Generation        uint64             `json:"archive_generation"`
	ViewDigest        aptos.Digest       `json:"view_digest"`
	Files             int                `json:"files"`
	Entries           int                `json:"entries"`
	Added             int                `json:"added"`
	StateChanged      int                `json:"state_changed"`
	Unchanged         int                `json:"unchanged"`
	CatalogGeneration uint64             `json:"generation"`
	Warnings          []importer.Warning `json:"warnings"`
}

type Undo struct {
	DryRun    bool               `json:"dry_run"`
	Operation *catalog.Operation `json:"operation"`
}
