#!/usr/bin/env bash
# metactl's main job, end to end, on the shipped sample storage:
# import a legacy metadata folder into a catalog, query it, compact it in one
# transaction, verify it, and export it back out as a folder and an archive.
#
# Usage: bash scripts/demo.sh [WORKDIR]
# Everything it writes goes under WORKDIR (default: a new temporary folder);
# the catalog is one embedded bbolt file there, no server, no setup.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t metactl-demo-XXXXXX)}
mkdir -p "$work"
cd "$work"

echo "# building metactl"
go build -C "$root" -o "$work/metactl" ./cmd/metactl
export PATH="$work:$PATH"
export METACTL_CATALOG="$work/metactl.db"

step() { printf '\n$ %s\n' "$*"; "$@"; }
# first N CMD...: run CMD whole (so a pipe never cuts it short), show N lines.
first() {
  local n=$1; shift
  printf '\n$ %s   # first %s lines\n' "$*" "$n"
  "$@" >"$work/out.txt"
  head -n "$n" "$work/out.txt"
}

# A copy of the sample storage, so the drop-in compaction below can write to it.
rm -rf storage && cp -r "$root/testdata/sample" storage

step metactl import --local-fs-dir storage
step metactl status
first 6 metactl ls --state live
step metactl read metadata/transaction_1-1000000.meta
step metactl compact --dry-run --epoch-ending-file-compact-factor 10 \
  --state-snapshot-file-compact-factor 10 --transaction-file-compact-factor 20
step metactl compact --epoch-ending-file-compact-factor 10 \
  --state-snapshot-file-compact-factor 10 --transaction-file-compact-factor 20
first 9 metactl read metadata/epoch_ending_compacted_0-9.meta
step metactl status
step metactl verify
first 6 metactl plan --target-version 30000000
step metactl export --local-fs-dir exported
step metactl export --archive catalog.mcar
step metactl --catalog catalog.mcar status
step metactl log
# The drop-in replacement for 'backup-maintenance compact' on the folder
# itself: import (sync), compact, export, with Aptos's flags. The first run
# timestamps the superseded files; a run after the grace period (rehearsed
# here with METACTL_NOW one day and a second ahead) moves them to
# metadata_backup/, after every new file is in place.
compact100=(compact --local-fs-dir storage --epoch-ending-file-compact-factor 100
  --state-snapshot-file-compact-factor 100 --transaction-file-compact-factor 100)
step metactl "${compact100[@]}"
step env METACTL_NOW=$(( $(date +%s) + 86401 )) metactl "${compact100[@]}"
step ls storage/metadata
printf '\n%s files moved to storage/metadata_backup/\n' "$(ls storage/metadata_backup | wc -l)"
printf '\ndemo files are in %s\n' "$work"
