//go:build unix

// Package selftest checks, on the filesystem where an operator means to
// keep a catalog, what metactl's crash safety assumes of it: that fsync
// returns no error, that a rename is atomic to another process, that flock
// is honoured across processes, that the catalog lock keeps a second
// writer out and lets readers see one whole generation, and that a process
// killed at any failpoint of import, compaction or export leaves the
// before- or the after-state. NFS, EFS, some FUSE and overlay filesystems
// break one or more of these.
//
// [Run] works in a scratch folder it creates inside Options.Dir and removes
// at the end, also on failure and when its context is cancelled (SIGINT).
// Everything that could be a crash is a real child process: the metactl
// binary (Options.Binary) re-executed with METACTL_FAILPOINT set, SIGKILLed
// at the named point by itself. The helpers a probe needs in a second
// process (a reader racing renames, a second flock) are the hidden command
// "metactl selftest-helper", which calls [Helper].
//
// Every property is reported PASS or FAIL with its figures (kills, reads,
// milliseconds); a FAIL carries what was seen. The default run takes well
// under a minute (about 15 s on an idle laptop disk); Quick about 10 s.
package selftest
