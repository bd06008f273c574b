//go:build unix

package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// storageFlags are Aptos's storage options, with Aptos's names, so an
// operator's scripts carry over. At most one may be given.
type storageFlags struct {
	LocalFsDir           string   `name:"local-fs-dir" help:"A LocalFs backup storage folder (holding metadata/ and metadata_backup/)." type:"path" placeholder:"DIR"`
	CommandAdapterConfig string   `name:"command-adapter-config" help:"An Aptos command-adapter YAML config (the bash commands that reach a bucket)." type:"existingfile" placeholder:"FILE"`
	AdapterTimeout       duration `name:"adapter-timeout" help:"Kill a command-adapter call (list, download, save, move) that runs longer than this, with its process group, and fail the command with nothing committed; 0 means no limit (default: ${default})." default:"10m" placeholder:"DUR"`
}

// loadAdapter loads --command-adapter-config with --adapter-timeout set.
func (s *storageFlags) loadAdapter() (*storage.CommandAdapter, error) {
	ca, err := storage.LoadCommandAdapter(s.CommandAdapterConfig)
	if err != nil {
		return nil, err
	}
	ca.Timeouts = storage.Uniform(time.Duration(s.AdapterTimeout))
	return ca, nil
}

func (s *storageFlags) given() bool { return s.LocalFsDir != "" || s.CommandAdapterConfig != "" }

func (s *storageFlags) validate() error {
	if s.LocalFsDir != "" && s.CommandAdapterConfig != "" {
		return usagef("give one of --local-fs-dir and --command-adapter-config, not both")
	}
	if s.AdapterTimeout < 0 {
		return usagef("--adapter-timeout %s: want 0 (no limit) or more", s.AdapterTimeout)
	}
	return nil
}

// describe returns the provenance label recorded with imported files.
func (s *storageFlags) describe() string {
	if s.LocalFsDir != "" {
		abs, err := filepath.Abs(s.LocalFsDir)
		if err != nil {
			abs = s.LocalFsDir
		}
		return "local-fs:" + abs
	}
	abs, err := filepath.Abs(s.CommandAdapterConfig)
	if err != nil {
		abs = s.CommandAdapterConfig
	}
	return "command-adapter:" + abs
}

// source opens the named storage for reading.
func (s *storageFlags) source() (storage.Source, error) {
	switch {
	case s.LocalFsDir != "":
		return storage.NewLocal(s.LocalFsDir)
	case s.CommandAdapterConfig != "":
		return s.loadAdapter()
	}
	return nil, fmt.Errorf("no storage given")
}

// cacheFlags are the two options Aptos's backup-maintenance compact and
// backup query take besides the storage: where its metadata cache lives
// and how many downloads run at once. metactl gives them the same meaning:
// the cache folder holds the catalog when --catalog is not given, and
// --concurrent-downloads bounds parallel command-adapter calls.
type cacheFlags struct {
	MetadataCacheDir    string `name:"metadata-cache-dir" help:"Where metactl keeps its catalog (metactl.db) for this run when neither --catalog nor METACTL_CATALOG is given; Aptos's cache folder. Created if missing." type:"path" placeholder:"DIR"`
	ConcurrentDownloads int    `name:"concurrent-downloads" help:"At most this many command-adapter calls (downloads, and saves and moves when publishing) at once; 0 means ${default_concurrency}." default:"0" placeholder:"N"`
}

// metadataCacheDir is how run finds the cache folder of the selected
// command to resolve the default catalog path.
func (c *cacheFlags) metadataCacheDir() string { return c.MetadataCacheDir }

// concurrency is --concurrent-downloads with 0 resolved to the default.
func (c *cacheFlags) concurrency() int {
	if c.ConcurrentDownloads <= 0 {
		return importer.DefaultConcurrency
	}
	return c.ConcurrentDownloads
}

func (c *cacheFlags) validateCache() error {
	if c.ConcurrentDownloads < 0 {
		return usagef("--concurrent-downloads %d: want 0 or more", c.ConcurrentDownloads)
	}
	return nil
}

// queryFlags let a read-only command answer straight from a storage, as
// 'aptos-db-tool backup query backup-storage-state' does: the storage is
// imported into a private temporary catalog, queried, and removed.
type queryFlags struct {
	storageFlags
	cacheFlags
}

func (q *queryFlags) Validate() error {
	if err := q.storageFlags.validate(); err != nil {
		return err
	}
	return q.validateCache()
}

// open opens the catalog to read: the storage's private catalog when a
// storage flag is given, else the catalog (or archive) of --catalog. The
// returned function closes it and removes what was created.
func (q *queryFlags) open(a *app, command string) (catalog.DB, func(), error) {
	if !q.given() {
		return a.openRead(command)
	}
	return a.openStorage(&q.storageFlags, &q.cacheFlags, command)
}

// target opens the named storage for writing: the one place the CLI picks
// a write backend (export and the drop-in compaction), as source picks the
// read one. gzip applies to a folder only (an adapter's config decides);
// concurrency bounds an adapter's parallel commands (0: one at a time);
// existing requires a folder to be a storage already (the drop-in), where
// an export may create a new one in a missing or empty folder. A folder
// path is checked here, before anything is read or written.
func (s *storageFlags) target(gzip bool, concurrency int, existing bool) (export.Target, error) {
	switch {
	case s.LocalFsDir != "":
		d := &export.Dir{Path: s.LocalFsDir, Gzip: gzip, Existing: existing}
		if err := d.Check(); err != nil {
			return nil, err
		}
		return d, nil
	case s.CommandAdapterConfig != "":
		ca, err := s.loadAdapter()
		if err != nil {
			return nil, err
		}
		return &export.Adapter{CA: ca, Config: s.CommandAdapterConfig, Concurrency: concurrency}, nil
	}
	return nil, fmt.Errorf("no storage given")
}
