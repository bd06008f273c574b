// Package verify answers the two questions an operator asks before a
// restore and during an incident: what would Aptos's restore read from
// this catalog (Plan), and what is wrong with it (Catalog, Check).
//
// # Plan
//
// [Plan] runs [aptos.View.PlanRestore], Aptos's restore coordinator's rules
// (docs/restore-planning.md), on the catalog's view, and names the moved
// files (metadata_backup/) that would cover a hole the restore would
// otherwise pass over in silence.
//
// # Findings
//
// [Catalog] finds every problem at once, in one read-only transaction, and
// never stops at the first: the bbolt file, the entry index and digest
// against the files, each stored line, and the view ([Check]). Each
// [Finding] has a stable code (the Code constants; scripts match them), a
// sentence for an operator, and every handle:line holding an entry
// involved, moved files named where they lie ("metadata_backup/<name>").
// Problems fail verify (exit 4); warnings are reported and do not.
//
// Rules of the view checks, decided here:
//   - Exact duplicates, in one file or several, are one entry, as in
//     Aptos's view; the same range with another manifest is a conflict.
//   - A hole is a missing range from version (or epoch) 0 up to the last
//     live entry; where moved entries cover it, it is a "moved-only" range
//     instead, and moved entries beyond the last live one are one too.
//   - Aptos's own continuity message is quoted at the first break, the one
//     its restore would stop at.
//   - Epoch E spans the versions after the end of epoch E-1 up to the end
//     of epoch E; an epoch's end is known where an epoch-ending backup
//     names it (its first or last epoch). A snapshot outside its epoch's
//     span contradicts the epoch endings.
package verify
