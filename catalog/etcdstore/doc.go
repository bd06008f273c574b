// Package etcdstore keeps a metactl catalog in etcd, for operators whose
// jobs (backup coordinator, compaction, verify, restore) run on several
// hosts and want one catalog they all see, with no single disk to lose.
// Catalogs are named "etcd://HOST:PORT[,HOST:PORT...]/PREFIX" (ParseURL).
//
// # Design: copy-on-write generations
//
// etcd limits one transaction to 128 operations and about 1.5 MiB by
// default, so a write of thousands of changes (a compaction) can never be
// one etcd transaction. Instead a write builds the next generation of the
// whole catalog locally and publishes it with one compare-and-swap:
//
//  1. Take the writer lock (below).
//  2. Read the current pointer and its manifest at one etcd revision.
//  3. Collect garbage (below).
//  4. Download generation G into a scratch bbolt file and run the write
//     there with package catalog's own DB.Update: every semantic of the
//     file catalog (validation, conflicts, the entry index and digest,
//     view preservation, the journal record, no-op writes) comes from the
//     same code.
//  5. If the write changed something, cut the file into chunks
//     (gzip-compressed, 1 MiB before compression) and put them under the
//     next slot, <prefix>/gen/<S+1>/chunk/<i>, as many requests as it
//     takes. Readers do not look there yet.
//  6. Put the journal record of generation G+1 (its own key; readers
//     ignore records past the current generation). Then publish with ONE
//     transaction: if the current pointer's mod revision is still the one
//     read in step 2 and the lock key is still ours, put the manifest and
//     the pointer. Otherwise nothing changes (ErrLostRace).
//
// Readers read the current pointer and then every key of that generation
// at the same etcd revision (WithRev), so they always see one whole
// generation, whatever is published or deleted meanwhile. A reader that
// only needs the small answers (status, counts, digest, identity) reads
// the manifest alone; the journal is one key
// per generation, read the same way; only commands that need the files
// (read, ls, verify, plan, export, compaction's input) download the
// generation.
//
// # Keys
//
//	<prefix>/current                            {"generation":G,"slot":S,"lineage":L,"published":T}
//	<prefix>/lock                               holder JSON, bound to the writer's lease
//	<prefix>/gen/<S, 20 digits>/manifest        Manifest JSON (generation, size, SHA-256, chunks, Summary)
//	<prefix>/gen/<S, 20 digits>/chunk/<i, 8>    gzip of bytes [i*chunk, (i+1)*chunk) of the bbolt file
//	<prefix>/journal/<L, 20>/<G, 20 digits>     the catalog.Operation that made generation G
//
// A slot is one publish: it grows by one every time, so a publish never
// writes into keys a reader may be using. The catalog generation G is the
// bbolt file's own (the file in a slot says its generation): one more per
// write, or any number after a copy or an archive's restored history. A
// lineage is one journal history: a write adds its record to the current
// lineage; a copy or a restored history writes its whole journal to a new
// lineage, named by its slot. Readers read the records of their lineage up
// to their generation, at their revision. The downloaded file is checked
// against the manifest's size and SHA-256 before it is opened.
//
// # Writer lock
//
// <prefix>/lock is created only if absent, bound to a lease of LeaseTTL
// (default 10s) that the writer keeps alive; its value names the holder
// (host, pid, command, start time). A writer that cannot take it within
// the lock timeout returns a *catalog.BusyError naming the holder (exit 5
// in the CLI). If the holder dies, its lease expires and the key goes with
// it. The publish compares the lock key's create revision, so a writer
// whose lease expired (a process paused for longer than the TTL) cannot
// publish over another writer's work.
//
// # Garbage and the grace period
//
// A writer killed before its compare-and-swap leaves chunks of a slot
// newer than the current one, and perhaps its journal record: the next
// writer deletes them (under the lock, before it writes that slot
// itself), with journal lineages no kept slot uses. Superseded generations are deleted only once their
// successor has been current for the grace period (default 10 minutes),
// so a slow reader never loses the generation it is reading; a reader
// whose revision etcd compacted away meanwhile starts over from the new
// current generation. etcd keeps deleted values until its own history
// compaction (run etcd with --auto-compaction-retention) and returns the
// space to the file system only on defragmentation.
//
// # Limits and costs
//
// Every write uploads the whole catalog (compressed) and every full read
// downloads it: a write costs O(catalog size), not O(change). A million
// metadata lines make a bbolt file of a few hundred MB that compresses
// several-fold; etcd's default quota is 2 GiB and must hold the current
// generation, those inside the grace period and the history etcd has not
// compacted yet.
//
// # Connection
//
// Every etcd request is bounded by the lock timeout (at least 2s), so a
// cluster whose members are all down gives an error naming the endpoints,
// never a hang. TLS and credentials come from the caller (the CLI's
// --etcd-cacert, --etcd-cert, --etcd-key and ETCDCTL_USER /
// ETCDCTL_PASSWORD, as etcdctl names them).
package etcdstore
