// Package coverage computes what a backup storage covers, version by
// version, from the catalog's view, and draws it as an SVG timeline: the
// picture an operator looks at during an incident ("what can I restore,
// and where are the holes?").
//
// # Vocabulary
//
//   - [Hole]: a gap (versions or epochs that no live entry covers, between
//     version or epoch 0 and the last live entry) or an overlap (versions
//     or epochs that more than one live entry covers, the same range with
//     another manifest included). Holes are exact: every version range is
//     the view's own numbers, never a rounded drawing.
//   - [Segment]: what the timeline draws for one row. Contiguous entries
//     are one segment; entries that fall into the same of at most
//     [Options.Segments] bins of the version axis are merged, so a drawing
//     has at most a few thousand shapes per row whatever the catalog's
//     size. A merged segment keeps its exact first and last versions and
//     counts its entries. Holes are drawn on top of the segments, each at
//     least a few pixels wide, so no merge can hide one.
//   - [Report]: everything of one generation, read in one read-only
//     transaction by [Read]: the storage state, the file counts, the
//     restorable frontier ([aptos.View.RestorableFrontier]), the holes and
//     the timeline. [Report.WriteSVG] draws it.
//
// # Rules decided here
//
//   - Transactions: a gap is a missing range from version 0 up to the last
//     transaction backup (versions beyond it are "not backed up yet", not a
//     gap); an overlap is a range covered by two or more entries.
//   - Epoch endings: a gap is a run of missing epochs from epoch 0 up to
//     the last epoch-ending backup, drawn over the versions where those
//     epochs ended (after the previous entry's last version, before the next
//     entry's first); an overlap is a run of epochs two entries cover.
//   - State snapshots are points: they have no gaps, only marks.
//   - At most [MaxListed] holes of each sort are listed; the counts are
//     always exact.
//
// The package reads the view through [catalog.Tx] and knows nothing of HTTP
// or the command line; package web serves the page that shows a Report,
// and "metactl status --svg" writes the same SVG for a CronJob.
package coverage
