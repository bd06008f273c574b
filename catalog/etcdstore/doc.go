// Package etcdstore keeps a metactl catalog in etcd, for jobs on several
// hosts that share one catalog. Catalogs are named
// "etcd://HOST:PORT[,HOST:PORT...]/PREFIX[?OPTIONS]" ([ParseURL]); TLS and
// credentials are a [Connection] in catalog.Options.Backend.
//
// # Keys
//
// The catalog lives in etcd key for key, as the file backend keeps it in
// bbolt buckets (docs/design.md §9 says why):
//
//	<prefix>/current                  {"format":"metactl-etcd","version":2,"generation":G,"stage":S,...}
//	<prefix>/summary                  Summary JSON: the small answers (status)
//	<prefix>/list/<shard, 2 hex>      'z' + deflated live handles, sorted, '\n'-ended (FNV-1a of the handle % 256);
//	                                  valid when current says "listing":256 (listing.go)
//	<prefix>/kv/files/<handle>        'f', content size u64, file record header (state, times, SHA-256, source)
//	<prefix>/kv/content/<handle>      the file's content ('v' + bytes, or 'c' + chunk count u32 + size u64)
//	<prefix>/kv/<bucket>/<key>        every other key of the file backend's buckets (entries, timestamps,
//	                                  identities, journal, changes, deleted, meta): 'v' + value or 'c' + chunks
//	<prefix>/kc/<bucket>/<key>\x00<i> chunk i (u32 BE) of a value larger than value-size (256 KiB)
//	<prefix>/stage/<G, 20 digits>/... a staged write: 'p' + value, 'd' (delete), 'r' + range end
//	<prefix>/direct/<G, 20>/<i, 8>    keys a staged write put in place (new files' content), one per line
//	<prefix>/lock/<lease>             concurrency.Mutex keys; the oldest holds the lock
//	<prefix>/holder/<lease>           the holder's record (host, pid, command, start time)
//	<prefix>/revs                     anchors of past generations, for history compaction
//
// # Reads
//
// A reader reads current and then only keys, all at the revision of that
// read, so it sees one generation whatever is written meanwhile: status
// reads summary, read reads a file's two keys, the live handles are one
// range over list/ (or, for a generation an older metactl wrote, over the
// headers), a listing ranges over kv/files/ (headers, no content), log
// pages kv/journal/ backwards. A
// command that needs the whole catalog (verify, plan, export) copies every
// kv/ key, paged, into a local bbolt file and reads that.
//
// # Writes
//
// A writer holds the writer lock from Open to Close and keeps a local copy
// of the catalog, loaded at its first write. It runs the write there with
// the file backend's code (every semantic of a write comes from it), lists
// the keys that changed ([boltstore.RawDB] Diff) and publishes exactly those:
//
//   - Up to txn-ops (120) operations and txn-bytes (1 MiB), current and
//     summary included: ONE etcd transaction, if current's mod revision is
//     the one the writer read and the writer still owns the lock.
//   - Beyond that: the changes are put under stage/<G>/ in transactions
//     of that size, invisible to readers; one compare-and-swap of current
//     sets generation G with stage G, from which revision readers let
//     stage/<G>/ override kv/; the staged keys are then copied to their
//     places (folded) and a last transaction clears stage and deletes
//     stage/<G>/. The content of new files is not staged: readers reach
//     content only through a header, so it goes to its place at once,
//     listed under direct/<G>/ first. A large write thus sends new files
//     once and the rest of its changes twice.
//
// A writer killed before the swap leaves staged keys (and listed direct
// keys) that the next writer deletes; after it, a stage that the next
// writer folds. Either way readers
// see the before or the after state.
//
// # Lock
//
// A concurrency.Session (lease of lease-ttl, 10 s, kept alive) and a
// concurrency.Mutex on <prefix>/lock: waiters queue by create revision and
// wait on a watch of the key before theirs. A writer that times out gets a
// *catalog.BusyError naming the holder. Every write compares the mutex
// key's create revision, so a writer whose lease lapsed publishes nothing.
//
// # History and space
//
// After each write, metactl asks etcd to compact its history up to the
// revision of the generation that was current a grace period (10 min, at
// least 1 min) ago,
// so a reader that started since keeps its revision; compact=off leaves it
// to etcd's --auto-compaction-* settings. Defragmentation stays etcd's.
//
// # Old catalogs
//
// A catalog of layout version 1 (whole bbolt files in gzip chunks under
// gen/<slot>/, journal under journal/) is still read, by copying its file
// out, and is converted by its first write (or by metactl copy).
package etcdstore
