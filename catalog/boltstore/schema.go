package boltstore

// The on-disk schema: every bucket and well-known key lives here, and no
// other file spells a bucket name (etcd's schema/bucket.go pattern).
//
// # Buckets
//
//	meta        well-known keys below
//	files       file handle ("metadata/x.meta")      -> file record (keys.go)
//	entries     entry key (kind | fields | manifest) -> live reference count, u32 BE
//	timestamps  file_compacted_at u64 BE | handle    -> the CompactionTimestamps line
//	identities  handle                               -> 32-byte identity id
//	journal     generation u64 BE                    -> Operation as JSON
//	changes     generation u64 BE | handle           -> change record (changes.go)
//	deleted     handle                               -> deleted record (changes.go)
//	quarantine  handle                               -> quarantine record (quarantine.go)
//	chunks      handle | 0x00 | chunk index u32 BE   -> a big file's content, 1 MiB a key (chunks.go)
//
// The changes and deleted buckets came after schema version 1 was first
// written: catalogs made before them lack them, so readers treat a missing
// bucket as empty and a write creates them. Operations committed before
// them have no change records and cannot be undone.
//
// The entries bucket is the derived view of docs/aptos-format.md §5.2 kept in
// step with the live files in the same transaction: a key exists while at
// least one live file holds that exact line, so a cursor walk yields the view
// sorted in Aptos's field-wise order with exact duplicates dropped.

// SchemaVersion is the newest schema this build reads and writes. Open
// refuses a catalog with a larger version (ErrSchema). A catalog is created
// at version 1 and raised to schemaChunks by the first write that stores a
// file in chunks, so a metactl from before chunks refuses it as newer
// instead of calling it damaged, and a catalog without big files stays
// readable by it.
const SchemaVersion uint32 = schemaChunks

const (
	schemaBase   uint32 = 1 // the buckets above without chunks
	schemaChunks uint32 = 2 // files over maxInline bytes kept in the chunks bucket
)

var (
	bucketMeta       = []byte("meta")
	bucketFiles      = []byte("files")
	bucketEntries    = []byte("entries")
	bucketTimestamps = []byte("timestamps")
	bucketIdentities = []byte("identities")
	bucketJournal    = []byte("journal")

	bucketChanges    = []byte("changes")
	bucketDeleted    = []byte("deleted")
	bucketQuarantine = []byte("quarantine")
	bucketChunks     = []byte("chunks")

	// allBuckets must exist in every catalog; optionalBuckets are created
	// by the first write that needs them.
	allBuckets      = [][]byte{bucketMeta, bucketFiles, bucketEntries, bucketTimestamps, bucketIdentities, bucketJournal}
	optionalBuckets = [][]byte{bucketChanges, bucketDeleted, bucketQuarantine, bucketChunks}
)

// Keys in the meta bucket.
var (
	keySchemaVersion = []byte("schema_version") // u32 BE
	keyGeneration    = []byte("generation")     // u64 BE
	keyViewDigest    = []byte("view_digest")    // 32 bytes, see digest.go
	keyIdentity      = []byte("identity")       // 32 bytes: the chain this catalog belongs to
	keyCreated       = []byte("created")        // i64 BE unix nanoseconds
	keyEntryCount    = []byte("entry_count")    // u64 BE: keys in the entries bucket
	keyPurgedThrough = []byte("purged_through") // u64 BE: retained content purged up to this generation
	keyStats         = []byte("stats")          // storage-state maxima and file counts, see stats.go
)
