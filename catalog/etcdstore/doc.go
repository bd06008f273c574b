// Package etcdstore keeps a metactl catalog in etcd, for jobs on several
// hosts that share one catalog. Catalogs are named
// "etcd://HOST:PORT[,HOST:PORT...]/PREFIX[?OPTIONS]" ([ParseURL]); TLS and
// credentials are a [Connection] in [catalog.Options.Backend]. It registers
// the scheme "etcd" with package catalog and is the only package that
// imports the etcd client.
//
// # Vocabulary
//
//   - Keys: the catalog lives key for key under the prefix, as the file
//     backend keeps it in bbolt buckets: current (the generation), summary
//     (status), list/ (live handles in 256 shards), ix/ (the view index in
//     1,024 shards), kv/ (every other bucket key; a file as a header and
//     its content), kc/ (chunks of large values),
//     stage/ and direct/ (a write too large for one etcd transaction),
//     lock/ and holder/ (the writer lock), revs (history anchors). The
//     rel* constants spell them; docs/design.md §9.3 is the table.
//   - Local copy: a private bbolt file on which a writer runs each write
//     with the file backend's code, and from which a whole-catalog read
//     (verify, plan, export) is served. A writer leaves it in the user's
//     cache folder for the host's next writer (cache.go).
//   - [Lock]: a concurrency.Mutex held through a lease the writer keeps
//     alive, beside a holder record that names it.
//   - [FileCache]: the adapter server's copy of every file's header and
//     content of one settled generation, answering reads while the current
//     key's mod revision is the one it was filled at (filecache.go).
//
// # Invariants
//
//   - A reader reads current and then only keys, all at that read's
//     revision: one generation, whole, whatever is written meanwhile.
//   - A write publishes exactly the keys its local run changed, in one etcd
//     transaction that compares current's mod revision and the lock's
//     ownership, or staged and published by one compare-and-swap of
//     current; a crash leaves the before- or the after-state, and the next
//     writer removes or folds what it left.
//   - Every write that changes a file of a settled generation (its header
//     or its content) puts current in the same transaction, or runs while
//     current names a stage and puts current again to clear it; the keys
//     put without current (a staged write's direct keys: the content of
//     files with no header yet, new change records; the lock, holder and
//     revs keys) reach no reader of the settled generation. So an unchanged
//     mod revision of current means unchanged files: [FileCache] relies on
//     it (TestFileCacheSeesWrites).
//   - A writer whose lease lapsed publishes nothing; a waiter that times
//     out gets a [*catalog.BusyError] naming the holder.
//   - History is compacted only up to the revision that was current one
//     grace period ago, so a reader that started since keeps its revision.
//   - A write that wrote 512 keys or more (a copy, a conversion, a
//     staged write's publish and fold, a large import or compaction) is
//     followed by a grant of one lease of etcd's minimum TTL with no key
//     attached, not waited for and never revoked by metactl: its grant or
//     its expiry is a write of etcd's lease bucket alone, which frees the
//     read buffer the write grew in an etcd 3.4 member, where every read
//     request copies it (release.go). A failed grant fails nothing and is
//     not reported.
//
// Reads, writes, lock, history and the old layout: docs/design.md §9.3.
package etcdstore
