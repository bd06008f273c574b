package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/fsutil"
)

// allocSize is how far past its used pages bbolt grows the file (it does
// so once its mapping is larger than this, which with writerMmapSize is
// always). bbolt's default of 16 MiB left a 27 MB catalog at 44 MB (issue
// 11: the file must stay within 2x the metadata it holds), and a new
// catalog of a few files would weigh a megabyte with 1 MiB. The file
// grows at most once per commit whatever the step, so a small step costs
// nothing measurable.
const allocSize = 64 << 10

// writerMmapSize is the address space a writer maps from the start. When
// a write transaction outgrows the mapping, bbolt remaps and first copies
// every node the transaction touched out of the old mapping (profile of
// BenchmarkImportLines: 12% of an import in DB.mmap and node.dereference,
// the mapping doubling from 32 KiB). Mapping 1 GiB at once costs address
// space only: pages count towards the resident set when touched, and the
// file grows as before.
const writerMmapSize = 1 << 30

// boltDB is the embedded backend: a catalog in one bbolt file. Across
// processes, its locks serialize writers and let readers share.
type boltDB struct {
	path     string
	opts     catalog.Options
	bdb      *bolt.DB
	lockFile *os.File // exclusive writers: held until Close
}

func init() {
	catalog.Register(catalog.FileScheme, open)
	catalog.RegisterCreate(catalog.FileScheme, func(ctx context.Context, location string, opts *catalog.Options, kind catalog.Kind, fn func(catalog.BulkWriteTx) error) (*catalog.Operation, error) {
		return Create(ctx, strings.TrimPrefix(location, catalog.FileScheme+"://"), opts, kind, fn)
	})
	catalog.RegisterLoad(catalog.FileScheme, load)
}

// open is the backend's [catalog.OpenFunc]: location is a file path, or a
// "file://" URL of one.
func open(ctx context.Context, location string, opts *catalog.Options) (catalog.DB, error) {
	db, err := openBolt(ctx, strings.TrimPrefix(location, catalog.FileScheme+"://"), opts)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return db, nil
}

// openBolt opens the bbolt catalog file at path. A writable open creates
// the catalog if it does not exist (atomically: a new catalog appears
// whole or not at all).
func openBolt(ctx context.Context, path string, opts *catalog.Options) (*boltDB, error) {
	o := *opts
	db := &boltDB{path: path, opts: o}
	deadline := time.Now().Add(o.Timeout)

	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && (o.ReadOnly || o.Mode == catalog.MustExist):
		return nil, fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", path, catalog.ErrNoCatalog)
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path, &o); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("open catalog %q: %w", path, err)
	case o.Mode == catalog.MustBeNew:
		return nil, fmt.Errorf("open catalog %q: %w", path, catalog.ErrExist)
	default:
		if err := notCatalog(path, st); err != nil {
			return nil, err
		}
	}
	if !o.ReadOnly {
		if err := checkFile(path); err != nil {
			return nil, err
		}
	}

	// The gate (see lockPath). Readers hold it shared only while opening;
	// writers hold it exclusively until Close.
	gate, err := openGate(path, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	if gate != nil {
		how := syscall.LOCK_EX
		if o.ReadOnly {
			how = syscall.LOCK_SH
		}
		if err := flockWait(ctx, gate, how, deadline); err != nil {
			gate.Close()
			return nil, db.lockError(err)
		}
		if !o.ReadOnly {
			writeHolder(gate, &catalog.Holder{PID: os.Getpid(), Command: o.Command, Started: time.Now().UTC(), Host: hostname()})
			removeScratch(path) // what a crashed Create or UpdateBulk left; we hold the lock
			if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
				removeScratch(target) // UpdateBulk's scratch file is beside a link's target
			}
		}
	}
	// A reader checks, once it holds the gate, the file it then hands
	// bbolt (bopts.OpenFile): one open of the catalog, not two (checkFile's
	// own was 2% of an open_for_read), and the file a writer's rename may
	// have put in place before the gate was ours.
	var checked *os.File
	if o.ReadOnly {
		checked, err = openFile(path, os.O_RDONLY, 0)
		if err == nil {
			if err = checkOpenFile(checked, path); err != nil {
				checked.Close()
			}
		} else {
			err = fmt.Errorf("open catalog %q: %w", path, err)
		}
		if err != nil {
			if gate != nil {
				gate.Close()
			}
			return nil, err
		}
	}
	// Closes the checked file if bbolt was not handed it.
	defer func() {
		if checked != nil {
			checked.Close()
			checked = nil
		}
	}()
	bopts := &bolt.Options{
		ReadOnly:       o.ReadOnly,
		Timeout:        max(time.Until(deadline), time.Millisecond),
		NoSync:         o.NoSync,
		NoFreelistSync: false,
		// Loaded here, under guard: left to Check, a damaged freelist
		// would fault on bbolt's own goroutine, where no recover reaches.
		PreLoadFreelist: true,
		// The file checkFile read, for a reader; anything else as
		// os.OpenFile, without the runtime's poller (openFile).
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if f := checked; f != nil && name == path && flag == os.O_RDONLY {
				checked = nil
				return f, nil
			}
			return openFile(name, flag, perm)
		},
	}
	if !o.ReadOnly {
		bopts.InitialMmapSize = writerMmapSize
	}
	err = guard(func() error {
		var err error
		db.bdb, err = bolt.Open(path, 0o600, bopts)
		return err
	})
	if o.ReadOnly && gate != nil {
		gate.Close() // releases the shared lock: we are in, or failed
		gate = nil
	}
	if err != nil {
		if gate != nil {
			releaseGate(gate)
		}
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, db.lockError(errLockTimeout)
		}
		return nil, corruptError(path, err)
	}
	db.lockFile = gate
	db.bdb.AllocSize = allocSize
	if err := db.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Location returns the catalog's file path.
func (db *boltDB) Location() string { return db.path }

// Close releases the catalog and its lock.
func (db *boltDB) Close() error {
	var err error
	if db.bdb != nil {
		err = guard(db.bdb.Close)
		db.bdb = nil
	}
	if db.lockFile != nil {
		releaseGate(db.lockFile)
		db.lockFile = nil
	}
	return err
}

func (db *boltDB) lockError(err error) error {
	if errors.Is(err, errLockTimeout) {
		return &catalog.BusyError{Path: db.path, Timeout: db.opts.Timeout, Holder: readHolder(db.path)}
	}
	return fmt.Errorf("lock catalog %q: %w", db.path, err)
}

func openGate(path string, readOnly bool) (*os.File, error) {
	if readOnly {
		f, err := openFile(lockPath(path), os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, nil // read-only media or an older catalog: bbolt's lock still applies
		}
		return f, err
	}
	f, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}

func releaseGate(f *os.File) {
	_ = f.Truncate(0) // the holder record goes with the lock
	f.Close()
}

func hostname() string { h, _ := os.Hostname(); return h }

// create initializes a new catalog at a temporary name beside path and
// links it into place, so a crash never leaves a half-initialized catalog
// under the real name (an empty file there is always damage).
func create(path string, o *catalog.Options) error {
	tmp := fmt.Sprintf("%s.creating-%d", path, os.Getpid())
	_ = os.Remove(tmp)
	bdb, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("create catalog %q: %w", path, err)
	}
	err = bdb.Update(func(btx *bolt.Tx) error { return initCatalog(btx, o) })
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link, not rename: if another process created the catalog
		// meanwhile, keep theirs (unless this open must make a new one).
		if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) && o.Mode != catalog.MustBeNew {
			err = nil
		}
	}
	_ = os.Remove(tmp)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create catalog %q: %w", path, catalog.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("create catalog %q: %w", path, err)
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// initCatalog writes a new catalog's buckets and meta keys.
func initCatalog(btx *bolt.Tx, o *catalog.Options) error {
	for _, name := range slices.Concat(allBuckets, optionalBuckets) {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := btx.Bucket(bucketMeta)
	if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint32(nil, schemaBase)); err != nil {
		return err
	}
	if err := meta.Put(keyGeneration, u64(0)); err != nil {
		return err
	}
	if err := meta.Put(keyViewDigest, make([]byte, len(aptos.Digest{}))); err != nil {
		return err
	}
	empty := stats{known: true}
	if err := meta.Put(keyStats, empty.encode()); err != nil {
		return err
	}
	return meta.Put(keyCreated, u64(uint64(o.Now().UnixNano())))
}

// guard runs fn with faults on memory-mapped pages turned into panics, and
// turns any panic into ErrCorrupt. bbolt reads the file through mmap: a
// truncated or overwritten file can fault or trip an internal assertion
// deep inside it.
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", catalog.ErrCorrupt, r)
		}
	}()
	return fn()
}

func corruptError(path string, err error) error {
	if errors.Is(err, catalog.ErrCorrupt) || errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) {
		detail := strings.TrimPrefix(err.Error(), catalog.ErrCorrupt.Error()+": ") // named once
		return fmt.Errorf("open catalog %q: %w: %s (restore it from a backup or an archive made with 'metactl export --archive', or re-import the storage into a new catalog)", path, catalog.ErrCorrupt, detail)
	}
	return fmt.Errorf("open catalog %q: %w", path, err)
}

// checkFile validates bbolt's two meta pages before bbolt maps the file,
// so the common kinds of damage give a precise message instead of a fault:
// a zero-length or zeroed file, a file that is not bbolt, a truncated one.
func checkFile(path string) error {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open catalog %q: %w", path, err)
	}
	defer f.Close()
	return checkOpenFile(f, path)
}

// checkOpenFile is checkFile on the catalog file f, open for reading.
func checkOpenFile(f *os.File, path string) error {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("open catalog %q: %w: %s (restore it from a backup or an archive made with 'metactl export --archive', or re-import the storage into a new catalog)",
			path, catalog.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	const (
		magic      = 0xED0CDAED
		metaOffset = 16 // after the page header
	)
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, 0)
	buf = buf[:n]
	readMeta := func(b []byte) (pageSize uint32, pgid, txid uint64, ok bool) {
		if len(b) < metaOffset+64 {
			return 0, 0, 0, false
		}
		m := b[metaOffset:]
		if binary.LittleEndian.Uint32(m[0:]) != magic {
			return 0, 0, 0, false
		}
		h := fnv.New64a()
		h.Write(m[:56])
		if h.Sum64() != binary.LittleEndian.Uint64(m[56:]) {
			return 0, 0, 0, false
		}
		return binary.LittleEndian.Uint32(m[8:]), binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:]), true
	}
	ps0, pg0, tx0, ok0 := readMeta(buf)
	var ps1 uint32
	var pg1, tx1 uint64
	var ok1 bool
	b1 := make([]byte, metaOffset+64)
	if ok0 && ps0 >= 512 && ps0 <= 1<<20 {
		if _, err := f.ReadAt(b1, int64(ps0)); err == nil {
			ps1, pg1, tx1, ok1 = readMeta(b1)
		}
	} else {
		// Meta page 0 unreadable: a writer may be writing it right now
		// (a commit in place writes the meta page of txid%2, and a read
		// beside it can see half of it), so meta page 1 decides; its
		// offset is the page size, which only page 0 would tell: try
		// each a meta page may name, as bbolt's own open does.
		for ps := int64(512); ps <= 1<<20 && !ok1; ps *= 2 {
			if _, err := f.ReadAt(b1, ps); err == nil {
				ps1, pg1, tx1, ok1 = readMeta(b1)
				ok1 = ok1 && int64(ps1) == ps
			}
		}
	}
	// The size is taken after the meta pages are read: a writer's commit
	// in place grows the file before it writes the meta page naming the
	// new high-water mark, and bbolt never shrinks a file, so a size read
	// first could be older than a meta page read after it (a healthy
	// catalog written meanwhile reported truncated; seen once in
	// TestServeNeverBlocksWriter).
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open catalog %q: %w", path, err)
	}
	size := st.Size()
	if size == 0 {
		return damaged("the file is empty")
	}
	if !ok0 && !ok1 {
		if allZero(buf) {
			return damaged("the file is zeroed")
		}
		if isMetadataFile(path, buf) {
			return metadataFileError(path)
		}
		return damaged("not a bbolt database (no valid meta page)")
	}
	pageSize, pgid := ps0, pg0
	if ok1 && (!ok0 || tx1 > tx0) {
		pageSize, pgid = ps1, pg1
	}
	if need := int64(pgid) * int64(pageSize); size < need {
		return damaged("the file is truncated: %d bytes, its meta page needs %d", size, need)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (db *boltDB) checkSchema() error {
	return db.view(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("open catalog %q: %w: a bbolt file, but not a metactl catalog (no meta bucket)", db.path, catalog.ErrCorrupt)
		}
		v := meta.Get(keySchemaVersion)
		if len(v) != 4 {
			return fmt.Errorf("open catalog %q: %w: no schema version", db.path, catalog.ErrCorrupt)
		}
		if sv := binary.BigEndian.Uint32(v); sv > SchemaVersion {
			return fmt.Errorf("open catalog %q: %w: schema version %d is newer than this metactl's %d (upgrade metactl)", db.path, catalog.ErrSchema, sv, SchemaVersion)
		}
		for _, name := range allBuckets {
			if btx.Bucket(name) == nil {
				return fmt.Errorf("open catalog %q: %w: bucket %q is missing", db.path, catalog.ErrCorrupt, name)
			}
		}
		return nil
	})
}

func (db *boltDB) view(fn func(*bolt.Tx) error) error {
	return guard(func() error { return db.bdb.View(fn) })
}

// Check runs bbolt's consistency check over the whole file (every page
// reachable once, freelist consistent). It returns nil if the file is
// sound.
func (db *boltDB) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(func(btx *bolt.Tx) error {
		// bbolt's Check runs on a goroutine of its own, where a fault on
		// the mmap is a fatal error, not a panic that guard recovers. So
		// every page and every key and value is read here first, on this
		// goroutine, where a fault becomes "catalog file is damaged".
		if err := probe(btx); err != nil {
			return fmt.Errorf("check catalog %q: %w", db.path, err)
		}
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("check catalog %q: %w: %w", db.path, catalog.ErrCorrupt, errors.Join(errs...))
		}
		return nil
	})
}

// The embedded backend implements the catalog interfaces.
var (
	_ catalog.DB      = (*boltDB)(nil)
	_ catalog.WriteTx = (*boltTx)(nil)
)

// openFile is os.OpenFile without the runtime's network poller: a file
// os.OpenFile opens is offered to the poller (epoll), which a regular
// file refuses, and the first such open sets the poller up (an epoll
// instance, an eventfd, four fcntl calls per file). A catalog file, its
// lock file and bbolt's file are regular files read with blocking calls
// either way; opened here, a read-only open sets up no poller, which
// every process of a metadata sync would pay for (docs/aptos-bridge.md,
// "A call's own CPU"). Errors are os.OpenFile's (*fs.PathError).
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
