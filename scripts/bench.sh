#!/usr/bin/env bash
# The comparison script of design.md §8: runs metactl and the tools a user
# would otherwise use on the same generated storage, in one run, and prints
# a table of ratios.
#
# Usage: scripts/bench.sh [--lines N] [--repeat R] [--workdir DIR] [--keep]
#
#   --lines N     about N single-line metadata files, as Aptos leaves them
#                 uncompacted (default 100000; 1000000 works, slowly)
#   --repeat R    run every measurement R times and keep the best wall time
#                 (default 3)
#   --workdir DIR where binaries, the storage, catalogs and copies go
#                 (default: a new temporary folder); bulky folders are removed
#                 at the end unless --keep
#
# Installs zstd, jq and GNU time with apt-get when they are missing and it
# runs as root; otherwise it says what to install and exits 1.
#
# Machines are shared and noisy: every ratio compares two timings taken in
# this run, each the best of R. Absolute times are only indicative. All
# measurements run with a warm page cache (the storage was just generated).
set -euo pipefail
export LC_ALL=C

lines=100000
repeat=3
work=""
keep=0

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while (($#)); do
  case $1 in
  --lines) lines=${2:?--lines needs a value}; shift 2 ;;
  --lines=*) lines=${1#*=}; shift ;;
  --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
  --repeat=*) repeat=${1#*=}; shift ;;
  --workdir) work=${2:?--workdir needs a value}; shift 2 ;;
  --workdir=*) work=${1#*=}; shift ;;
  --keep) keep=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ $lines =~ ^[0-9]+$ ]] || ((lines < 8)); then
  echo "bench.sh: --lines must be a number >= 8, got $lines" >&2
  exit 2
fi
if ! [[ $repeat =~ ^[0-9]+$ ]] || ((repeat < 1)); then
  echo "bench.sh: --repeat must be a number >= 1, got $repeat" >&2
  exit 2
fi

die() {
  echo "bench.sh: FAIL: $*" >&2
  exit 1
}
log() { printf '# %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
need=()
command -v zstd >/dev/null || need+=(zstd)
command -v jq >/dev/null || need+=(jq)
command -v tar >/dev/null || need+=(tar)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "bench.sh needs ${need[*]} (and /usr/bin/time is GNU time, package 'time')." >&2
    echo "Install them, e.g. 'sudo apt-get install ${need[*]}', and run it again." >&2
    exit 1
  fi
fi
command -v go >/dev/null || {
  echo "bench.sh needs Go (go.mod asks for 1.26) on PATH to build metactl." >&2
  exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z $work ]]; then
  work=$(mktemp -d -t metactl-bench-XXXXXX)
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
bin=$work/bin
st=$work/storage # the generated LocalFs storage: $st/metadata/*.meta
logs=$work/logs
mkdir -p "$bin" "$logs"

log "building metactl and metactl-gen into $bin"
go build -C "$root" -o "$bin/metactl" ./cmd/metactl
go build -C "$root" -o "$bin/metactl-gen" ./cmd/metactl-gen
mc=$bin/metactl

# ---------------------------------------------------------------- timing
declare -A T   # best wall time, nanoseconds
declare -A RSS # peak RSS over the runs, KiB (largest single process)

# measure KEY PREP CMD...: R times, run PREP (a function, untimed) and flush
# the work folder's filesystem (so no earlier write-back or deletion is
# billed to CMD), then CMD under GNU time with stdout to $logs/KEY.out and
# stderr to $logs/KEY.err. Keeps the best wall time (date +%s%N around the
# run) and the peak RSS.
measure() {
  local key=$1 prep=$2 i t0 t1 dt r
  shift 2
  T[$key]=""
  RSS[$key]=0
  for ((i = 1; i <= repeat; i++)); do
    "$prep"
    sync -f "$work"
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%M' -o "$logs/$key.time" "$@" >"$logs/$key.out" 2>"$logs/$key.err"; then
      tail -n 20 "$logs/$key.err" >&2
      die "$key: '$*' failed (logs in $logs)"
    fi
    t1=$(date +%s%N)
    dt=$((t1 - t0))
    r=$(tail -n 1 "$logs/$key.time")
    if [[ -z ${T[$key]} ]] || ((dt < T[$key])); then T[$key]=$dt; fi
    if ((r > RSS[$key])); then RSS[$key]=$r; fi
  done
  log "$(printf '%-22s best of %d: %s s, peak RSS %s MB' "$key" "$repeat" "$(secs "$key")" "$(mb_rss "$key")")"
}
nop() { :; }

secs() { awk -v n="${T[$1]}" 'BEGIN { printf "%.3f", n / 1e9 }'; }
mb_rss() { awk -v k="${RSS[$1]}" 'BEGIN { printf "%.0f", k / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
# speed BASE MINE: "3.2x faster" when MINE took less time than BASE.
speed() {
  awk -v b="${T[$1]}" -v m="${T[$2]}" 'BEGIN {
    if (m <= 0 || b <= 0) { print "n/a"; exit }
    r = b / m
    if (r >= 1) printf "%.2fx faster", r; else printf "%.2fx slower", 1 / r }'
}
# sizer MINE BASE (bytes): "0.93x the size"
sizer() { awk -v m="$1" -v b="$2" 'BEGIN { printf "%.3fx the size", m / b }'; }
# rate BYTES KEY: MB/s of KEY's best time
rate() { awk -v b="$1" -v n="${T[$2]}" 'BEGIN { printf "%.0f MB/s", b / 1e6 / (n / 1e9) }'; }
fsize() { stat -c %s "$1"; }
# tree_digest DIR: names, sizes and the concatenated bytes of every file under
# DIR/metadata, as one hash (untimed correctness check).
tree_digest() {
  (
    cd "$1"
    {
      find metadata -type f -printf '%P %s\n' | sort
      find metadata -type f -print0 | sort -z | xargs -0r cat
    } | sha256sum
  )
}

# ---------------------------------------------------------------- machine
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //' || true)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
fstype=$(df -PT "$work" | awk 'NR == 2 { print $2 }')
machine="$(nproc) CPUs ($cpu), $mem RAM, $fstype at $work, $(uname -sr), $(go version | awk '{ print $3 }')"
log "machine: $machine"

# ---------------------------------------------------------------- storage
# metactl-gen writes about 4 files per epoch with one snapshot every 2 epochs
# (helm's interval): 250000 epochs give 1,000,050 files.
epochs=$(((lines + 3) / 4))
rm -rf "$st"
log "generating ~$lines files ($epochs epochs) into $st"
gen_t0=$(date +%s%N)
"$bin/metactl-gen" --out "$st" --epochs "$epochs" --snapshot-interval 2 --json >"$logs/gen.json"
gen_t1=$(date +%s%N)
nfiles=$(jq -r .files "$logs/gen.json")
nbytes=$(jq -r .bytes "$logs/gen.json")
du_disk=$(du -sB1 "$st/metadata" | awk '{ print $1 }')
log "$nfiles files, $(mb "$nbytes") of lines, $(mb "$du_disk") on disk, generated in $(awk -v n=$((gen_t1 - gen_t0)) 'BEGIN { printf "%.1f", n / 1e9 }') s"

cat=$work/catalog.db
rm_catalog() { rm -f "$cat" "$cat.lock"; }

# ---------------------------------------------------------------- 1. loading the metadata
# The Aptos way to learn the storage state: list metadata/, read and parse
# every file (what sync_and_load does), then take the maxima that
# BackupStorageState holds. jq streams (reduce inputs), which is faster and
# leaner than slurping with -s; the snapshot is the greatest
# [epoch, version, manifest], as Aptos's select_state_snapshot picks it.
# shellcheck disable=SC2016 # $x is jq's variable
jq_state='reduce inputs as $x ({e: null, s: null, t: null};
  if $x.EpochEndingBackup then .e = ([.e, $x.EpochEndingBackup.last_epoch] | max)
  elif $x.StateSnapshotBackup then .s = ([.s, ($x.StateSnapshotBackup | [.epoch, .version, .manifest])] | max)
  elif $x.TransactionBackup then .t = ([.t, $x.TransactionBackup.last_version] | max)
  else . end)
| "latest_epoch_ending_epoch: \(.e // "none"), latest_state_snapshot_epoch: \(.s[0] // "none"), latest_state_snapshot_version: \(.s[1] // "none"), latest_transaction_version: \(.t // "none")"'
# shellcheck disable=SC2016 # expanded by the inner bash
scan_cmd='set -euo pipefail; find "$1/metadata" -type f -print0 | xargs -0 cat | jq -nr "$2"'

measure import rm_catalog "$mc" --catalog "$cat" import --local-fs-dir "$st"
measure status nop "$mc" --catalog "$cat" status
measure scan nop bash -c "$scan_cmd" _ "$st" "$jq_state"
status_line=$(cat "$logs/status.out")
scan_line=$(cat "$logs/scan.out")
if [[ $status_line != "$scan_line" ]]; then
  printf 'metactl status: %s\njq scan:        %s\n' "$status_line" "$scan_line" >&2
  die "metactl status and the jq scan of the folder disagree"
fi
log "status check: metactl status == jq scan: $status_line"
"$mc" --catalog "$cat" --json status >"$logs/status.json"
entries=$(jq -r .entries "$logs/status.json")
digest=$(jq -r .view_digest "$logs/status.json")
catalog_bytes=$(fsize "$cat")

# ---------------------------------------------------------------- 2. export to an archive
arch=$work/catalog.mcar
plain=$work/catalog.plain
zst=$work/plain.zst
tzst=$work/metadata.tar.zst
rm_arch() { rm -f "$arch"; }
measure export_archive rm_arch "$mc" --catalog "$cat" export --archive "$arch"
zstd -dq <"$arch" >"$plain" || die "the archive is not a plain zstd stream ('zstd -d' failed)"
plain_bytes=$(fsize "$plain")
arch_bytes=$(fsize "$arch")
# shellcheck disable=SC2016
measure zstd nop bash -c 'zstd -3 -T2 -q -c <"$1" >"$2"' _ "$plain" "$zst"
zst_bytes=$(fsize "$zst")
# shellcheck disable=SC2016
measure tar_zstd nop bash -c 'set -euo pipefail; tar -cf - -C "$1" metadata | zstd -3 -T2 -q -c >"$2"' _ "$st" "$tzst"
tzst_bytes=$(fsize "$tzst")
measure status_archive nop "$mc" --catalog "$arch" status
[[ $(cat "$logs/status_archive.out") == "$status_line" ]] ||
  die "status read from the archive differs from the catalog's"

# ---------------------------------------------------------------- 3. import of the archive
cat2=$work/from-archive.db
untar=$work/untar
rm_catalog2() { rm -f "$cat2" "$cat2.lock"; }
rm_untar() { rm -rf "$untar" && mkdir -p "$untar"; }
measure import_archive rm_catalog2 "$mc" --catalog "$cat2" import --archive "$arch"
[[ $("$mc" --catalog "$cat2" --json status | jq -r .view_digest) == "$digest" ]] ||
  die "the catalog imported from the archive has another view digest"
# shellcheck disable=SC2016
measure untar rm_untar bash -c 'set -euo pipefail; zstd -dq -c <"$1" | tar -xf - -C "$2"' _ "$tzst" "$untar"
rm -rf "$untar"
rm_catalog2

# ---------------------------------------------------------------- 4. export to a folder
exp=$work/exported
cpd=$work/copied
rm_exp() { rm -rf "$exp"; }
rm_cpd() { rm -rf "$cpd" && mkdir -p "$cpd"; }
measure export_dir rm_exp "$mc" --catalog "$cat" export --local-fs-dir "$exp"
measure export_dir_noop nop "$mc" --catalog "$cat" export --local-fs-dir "$exp"
grep -q ' 0 written, 0 moved' "$logs/export_dir_noop.out" ||
  die "the second export was not a no-op: $(cat "$logs/export_dir_noop.out")"
[[ $(tree_digest "$exp") == "$(tree_digest "$st")" ]] ||
  die "the exported folder differs from the generated storage"
log "export check: exported metadata/ is byte-identical to the storage's"
measure cp_r rm_cpd cp -r "$st/metadata" "$cpd/"
# cp does not fsync; metactl export fsyncs every file and folder. This row
# prices that durability with one syncfs of the copy's filesystem.
# shellcheck disable=SC2016
measure cp_r_sync rm_cpd bash -c 'cp -r "$1" "$2/" && sync -f "$2"' _ "$st/metadata" "$cpd"
rm -rf "$cpd"

# ---------------------------------------------------------------- 5. compaction
ccat=$work/compacted.db
copy_catalog() { rm -f "$ccat" "$ccat.lock" && cp "$cat" "$ccat"; }
measure compact copy_catalog "$mc" --catalog "$ccat" compact \
  --epoch-ending-file-compact-factor 100 --state-snapshot-file-compact-factor 100 \
  --transaction-file-compact-factor 100
written=$(grep -c '^wrote metadata/' "$logs/compact.out" || true)
[[ $("$mc" --catalog "$ccat" --json status | jq -r .view_digest) == "$digest" ]] ||
  die "compaction changed the view digest"
ccatalog_bytes=$(fsize "$ccat")
# After compaction the view also holds a timestamps line naming every file.
measure status_compacted nop "$mc" --catalog "$ccat" status
[[ $(cat "$logs/status_compacted.out") == "$status_line" ]] ||
  die "status after compaction differs from before"
# Bring the exported folder up to date with the compacted catalog: the
# incremental export a compaction job does (writes only the new files).
measure export_incr nop "$mc" --catalog "$ccat" export --local-fs-dir "$exp"

# ---------------------------------------------------------------- 6. reading one compacted file
shopt -s nullglob
compacted=("$exp"/metadata/transaction_compacted_*.meta)
shopt -u nullglob
((${#compacted[@]})) || die "no transaction_compacted_*.meta file in $exp/metadata after compaction"
cfile=${compacted[0]}
clines=$(wc -l <"$cfile")
measure read nop "$mc" --catalog "$ccat" read "$(basename "$cfile")"
measure jq_read nop jq . "$cfile"
cmp -s "$logs/read.out" "$logs/jq_read.out" ||
  die "metactl read and 'jq .' print different text for $cfile (see $logs/read.out, $logs/jq_read.out)"
log "read check: metactl read == jq . on $(basename "$cfile")"

# ---------------------------------------------------------------- report
entries_per_s=$(awk -v e="$entries" -v n="${T[compact]}" 'BEGIN { printf "%.0f", e / (n / 1e9) }')
plain_mb_s_mc=$(rate "$plain_bytes" export_archive)
plain_mb_s_zstd=$(rate "$plain_bytes" zstd)
ratio_t() { speed "$1" "$2"; } # ratio_t BASE MINE
# How many storage-state queries pay for the one-time import.
breakeven=$(awk -v i="${T[import]}" -v s="${T[status]}" -v q="${T[scan]}" 'BEGIN {
  if (q <= s) { print "never"; exit }
  n = i / (q - s); printf "%d", (n == int(n)) ? n : int(n) + 1 }')

row() { printf '| %s | %s | %s | %s |\n' "$@"; }
s() { printf '%s s' "$(secs "$1")"; }

echo
echo "metactl comparison benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $machine"
echo "storage: $nfiles single-line files ($entries view entries), $(mb "$nbytes") of lines, $(mb "$du_disk") on disk"
echo "catalog: $(mb "$catalog_bytes") after import, $(mb "$ccatalog_bytes") after compaction"
echo "each time is the best wall time of $repeat runs; page cache warm."
echo "NOTE: absolute times are noisy on a shared machine; the ratios, taken in this same run, are the point."
echo "ratio: baseline time / metactl time (faster = metactl wins); sizes: metactl bytes / baseline bytes."
echo
row "operation" "metactl" "baseline" "ratio"
row "---" "---" "---" "---"
row "load: import --local-fs-dir (one-time) vs find/xargs cat/jq scan (the Aptos way)" "$(s import)" "$(s scan)" "$(ratio_t scan import)"
row "storage state: status vs the same scan, every time" "$(s status)" "$(s scan)" "$(ratio_t scan status)"
row "storage state: status after compaction vs the same scan" "$(s status_compacted)" "$(s scan)" "$(ratio_t scan status_compacted)"
row "storage state: status --catalog ARCHIVE vs the same scan" "$(s status_archive)" "$(s scan)" "$(ratio_t scan status_archive)"
row "read one compacted file ($clines lines): read vs jq ." "$(s read)" "$(s jq_read)" "$(ratio_t jq_read read)"
row "compact, factors 100 ($entries entries, $written files written)" "$(s compact), $(mb_rss compact) MB RSS" "n/a (no tool here)" "$entries_per_s entries/s"
row "export --archive vs zstd -3 -T2 on the same plaintext ($(mb "$plain_bytes"))" "$(s export_archive) ($plain_mb_s_mc)" "$(s zstd) ($plain_mb_s_zstd)" "$(ratio_t zstd export_archive) (throughput)"
row "archive size vs zstd -3 -T2 of the same plaintext" "$arch_bytes B" "$zst_bytes B" "$(sizer "$arch_bytes" "$zst_bytes")"
row "export --archive vs tar -c metadata + zstd -3 -T2" "$(s export_archive)" "$(s tar_zstd)" "$(ratio_t tar_zstd export_archive)"
row "archive size vs metadata.tar.zst" "$arch_bytes B" "$tzst_bytes B" "$(sizer "$arch_bytes" "$tzst_bytes")"
row "import --archive (fresh catalog) vs zstd -d + tar -x" "$(s import_archive)" "$(s untar)" "$(ratio_t untar import_archive)"
row "export --local-fs-dir (fresh, fsynced) vs cp -r metadata" "$(s export_dir)" "$(s cp_r)" "$(ratio_t cp_r export_dir)"
row "export --local-fs-dir (fresh, fsynced) vs cp -r + sync -f" "$(s export_dir)" "$(s cp_r_sync)" "$(ratio_t cp_r_sync export_dir)"
row "export --local-fs-dir (no-op re-run) vs cp -r metadata" "$(s export_dir_noop)" "$(s cp_r)" "$(ratio_t cp_r export_dir_noop)"
row "export --local-fs-dir after compaction (incremental, $written new files)" "$(s export_incr)" "n/a" "n/a"
echo
echo "peak RSS (MB, largest single process, max over runs):"
rss_line=""
for k in import status scan status_compacted status_archive read jq_read compact export_archive zstd tar_zstd import_archive untar export_dir export_dir_noop cp_r export_incr; do
  rss_line+="$k=$(mb_rss "$k") "
done
echo "  $rss_line"
echo
echo "checks passed: status == jq scan of the folder; status from the archive and after compaction == status;"
echo "  archive round-trip keeps the view digest; exported folder byte-identical to the storage;"
echo "  compaction kept the view digest; metactl read == jq . on a compacted file."
echo
echo "----- summary (paste into a report) -----"
echo "metactl bench, $nfiles files, best of $repeat, $(nproc) CPUs ($cpu):"
echo "- storage state: import once $(s import) (peak $(mb_rss import) MB), then status $(s status) vs $(s scan) for a find/xargs cat/jq scan ($(ratio_t scan status)); import alone is $(ratio_t scan import) than one scan, so it pays off after $breakeven queries."
echo "- read a $clines-entry compacted file: $(s read) vs jq $(s jq_read) ($(ratio_t jq_read read))."
echo "- compact (factors 100): $(s compact), $entries_per_s entries/s, peak RSS $(mb_rss compact) MB."
echo "- export --archive: $plain_mb_s_mc vs zstd -3 -T2 $plain_mb_s_zstd on the same plaintext ($(ratio_t zstd export_archive)), $(sizer "$arch_bytes" "$zst_bytes") of zstd's output and $(sizer "$arch_bytes" "$tzst_bytes") of a tar.zst of the folder; vs tar + zstd: $(ratio_t tar_zstd export_archive)."
echo "- import --archive: $(s import_archive) vs zstd -d + tar -x $(s untar) ($(ratio_t untar import_archive))."
echo "- export --local-fs-dir: fresh $(s export_dir) vs cp -r $(s cp_r) ($(ratio_t cp_r export_dir)) / cp -r + sync -f $(s cp_r_sync) ($(ratio_t cp_r_sync export_dir)); no-op re-run $(s export_dir_noop)."
echo "-----------------------------------------"

if ((keep == 0)); then
  rm -rf "$exp" "$st" "$plain" "$zst" "$tzst" "$ccat" "$ccat.lock"
  echo "(bulky folders removed; binaries, catalog, archive and logs are in $work)"
else
  echo "(everything is in $work)"
fi
