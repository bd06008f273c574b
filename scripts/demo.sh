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

# A copy of the sample storage, so the drop-in compaction below can write to it.
rm -rf storage && cp -r "$root/testdata/sample" storage

step metactl import --local-fs-dir storage
step metactl status
step metactl ls --state live | head -n 6
step metactl read metadata/transaction_1-1000000.meta
step metactl compact --dry-run --epoch-ending-file-compact-factor 10 \
  --state-snapshot-file-compact-factor 10 --transaction-file-compact-factor 20
step metactl compact --epoch-ending-file-compact-factor 10 \
  --state-snapshot-file-compact-factor 10 --transaction-file-compact-factor 20
step metactl read metadata/epoch_ending_compacted_0-9.meta | head -n 9
step metactl status
step metactl verify
step metactl plan --target-version 30000000 | head -n 6
step metactl export --local-fs-dir exported
step metactl export --archive catalog.mcar
step metactl --catalog catalog.mcar status
step metactl log
# The drop-in replacement for 'backup-maintenance compact' on the folder
# itself: import (sync), compact, export, with Aptos's flags.
step metactl compact --local-fs-dir storage --epoch-ending-file-compact-factor 100 \
  --state-snapshot-file-compact-factor 100 --transaction-file-compact-factor 100
step ls storage/metadata
printf '\ndemo files are in %s\n' "$work"
