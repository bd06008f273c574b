#!/usr/bin/env bash
# Performance benchmark of issue 11: runs metactl and the tools an operator
# would otherwise use on the same generated storages, in one run, and prints
# one table: metactl's figure, the baseline's, their ratio, the goal and
# whether this run met it. Peak RSS is the whole process's maximum resident
# set (GNU time's %M), mapped catalog pages included.
#
# Usage: scripts/bench.sh [--lines N] [--files F] [--archive-files A]
#                         [--mainnet-lines M] [--repeat R] [--bridge-repeat B]
#                         [--workdir DIR] [--keep] [--rows R[,R...]]
#                         [--etcd F,L [--etcd-only]] [--etcd-server F]
#                         [--memory [--memory-etcd] [--baseline-bin B]]
#
#   --lines N          lines of the multi-line storage: N lines in N/100
#                      files of 100 lines; its catalog is the one for the
#                      import, status, compaction, archive and size rows
#                      (default 100000, a quick run; the issue's figures
#                      are for --lines 1000000)
#   --files F          one-line files for the "import one-line files" row
#                      (default N/10: 100k at --lines 1000000)
#   --archive-files A  one-line files in the catalog whose archive the
#                      read-only row opens and whose fresh folder export is
#                      timed (default N/5: 200k at --lines 1000000; the
#                      issue timed the folder export with 1M files)
#   --mainnet-lines M  one-line files of the Aptos mainnet-scale row:
#                      import + compact + export --archive (default 40000)
#   --repeat R         run every measurement R times; times are medians,
#                      peak RSS the maximum over the runs (default 3)
#   --bridge-repeat B  runs of each Aptos-style metadata sync of the bridge
#                      rows (default 1: each is M+1 processes)
#   --rows R[,R...]    only these rows of the table (default: all): import1
#                      (one-line files), import2 (lines), status, compact,
#                      archive (archive export), size (catalog file),
#                      archive-read, folder-export, mainnet, bridge; only
#                      their storages are generated. status and size imply
#                      import2, size compact too; the multi-line catalog
#                      that compact and archive read is imported untimed
#                      when import2 is not asked for
#   --workdir DIR      where binaries, storages, catalogs and copies go
#                      (default: a new temporary folder); bulky folders are
#                      removed at the end unless --keep
#
#   --etcd F,L         also the etcd rows of issue 22, from etcd's own metrics
#                      (TestEtcdCosts, one in-process member, fsync off): a
#                      one-file import into a catalog of F one-line files,
#                      status, read and the bridge's calls in fresh processes,
#                      1,000 small writes, and a compaction of L lines (the
#                      issue's sizes: --etcd 100000,1000000)
#   --etcd-only        only the etcd rows (with --etcd)
#   --etcd-server F    only the fresh-process read rows against Debian's
#                      etcd-server (one real member started by
#                      scripts/etcd-cluster.sh, not the test's in-process
#                      one): status, read, and the bridge's
#                      list_metadata_files and open_for_read on a catalog
#                      of about F one-line files copied into it. Beside
#                      --etcd (without --etcd-only) it joins the whole
#                      table instead: the bridge's sync row with the
#                      catalog on that member too, and these read rows
#                      after the etcd rows, all from one run
#
#   --memory           only the memory rows of issue 21: peak RSS, wall and
#                      CPU time of a first import of N transaction lines
#                      (--lines) as one file, the same file gzip'd, 100
#                      gzip'd files, and files of 100 lines; then of the
#                      same imports (but the gzip'd file) into an existing
#                      catalog holding one file of 100 lines
#   --memory-etcd      with --memory: the same rows with the catalog in
#                      etcd, one member of Debian's etcd-server
#                      (scripts/etcd-cluster.sh, installed if missing),
#                      started afresh for every import (so no run pays for
#                      another's history), the seed imported by the binary
#                      under test
#   --baseline-bin B   with --memory: also run the metactl binary B (an
#                      older build) on the same storages, interleaved, and
#                      print its figures beside these
#
# Installs sqlite3, zstd, jq, tar, python3-yaml and GNU time with apt-get when they are
# missing and it runs as root; otherwise it says what to install and exits 1.
#
# The goals are the issue's, stated for its sizes (--lines 1000000); on a
# quick run the ratios compare, the absolute goals only indicate. Every
# ratio compares two timings taken in this run. The page cache is warm (the
# storages were just generated), and the work folder's filesystem is synced
# before every timed run.
#
# Example, the issue's full table, etcd rows and bridge rows included, in
# one run, each of the bridge's syncs 3 times (about 36 minutes on 2
# cores; about 20-27 minutes with each sync once, without --bridge-repeat):
#
#   scripts/bench.sh --lines 1000000 --repeat 3 --bridge-repeat 3 --etcd 100000,1000000 --etcd-server 100000
set -euo pipefail
export LC_ALL=C

lines=100000
files=""
afiles=""
mlines=40000
repeat=3
work=""
keep=0
etcd=""
etcd_only=0
memory=0
memory_etcd=0
baseline_bin=""
etcd_server=""
bridge_repeat=1
rows=""
cmdline="scripts/bench.sh $*"
load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while (($#)); do
  case $1 in
  --lines) lines=${2:?--lines needs a value}; shift 2 ;;
  --lines=*) lines=${1#*=}; shift ;;
  --files) files=${2:?--files needs a value}; shift 2 ;;
  --files=*) files=${1#*=}; shift ;;
  --archive-files) afiles=${2:?--archive-files needs a value}; shift 2 ;;
  --archive-files=*) afiles=${1#*=}; shift ;;
  --mainnet-lines) mlines=${2:?--mainnet-lines needs a value}; shift 2 ;;
  --mainnet-lines=*) mlines=${1#*=}; shift ;;
  --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
  --repeat=*) repeat=${1#*=}; shift ;;
  --workdir) work=${2:?--workdir needs a value}; shift 2 ;;
  --workdir=*) work=${1#*=}; shift ;;
  --keep) keep=1; shift ;;
  --etcd) etcd=${2:?--etcd needs F,L}; shift 2 ;;
  --etcd=*) etcd=${1#*=}; shift ;;
  --etcd-only) etcd_only=1; shift ;;
  --memory) memory=1; shift ;;
  --memory-etcd) memory=1; memory_etcd=1; shift ;;
  --etcd-server) etcd_server=${2:?--etcd-server needs a file count}; shift 2 ;;
  --etcd-server=*) etcd_server=${1#*=}; shift ;;
  --rows) rows=${2:?--rows needs a list}; shift 2 ;;
  --rows=*) rows=${1#*=}; shift ;;
  --bridge-repeat) bridge_repeat=${2:?--bridge-repeat needs a value}; shift 2 ;;
  --bridge-repeat=*) bridge_repeat=${1#*=}; shift ;;
  --baseline-bin) baseline_bin=${2:?--baseline-bin needs a path}; shift 2 ;;
  --baseline-bin=*) baseline_bin=${1#*=}; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
files=${files:-$((lines / 10))}
afiles=${afiles:-$((lines / 5))}
for v in lines files afiles mlines; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 200)); then
    echo "bench.sh: --${v/afiles/archive-files} must be a number >= 200, got ${!v}" >&2
    exit 2
  fi
done
if [[ -n $etcd && ! $etcd =~ ^[0-9]+,[0-9]+$ ]] || ((etcd_only)) && [[ -z $etcd ]]; then
  echo "bench.sh: --etcd wants F,L (files, lines), e.g. 100000,1000000; --etcd-only needs --etcd" >&2
  exit 2
fi
for v in repeat bridge_repeat; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
    echo "bench.sh: --${v/_/-} must be a number >= 1, got ${!v}" >&2
    exit 2
  fi
done
# want ROW: the table has ROW (--rows, or every row).
all_rows=(import1 import2 status compact archive size archive-read folder-export mainnet bridge)
declare -A wanted
for r in ${rows//,/ }; do
  [[ " ${all_rows[*]} " == *" $r "* ]] || { echo "bench.sh: --rows: unknown row $r (rows: ${all_rows[*]})" >&2; exit 2; }
  wanted[$r]=1
done
if [[ -n ${wanted[status]:-} || -n ${wanted[size]:-} ]]; then wanted[import2]=1; fi # the sqlite3 table; the sizes
if [[ -n ${wanted[size]:-} ]]; then wanted[compact]=1; fi
if [[ -n $rows && -n $etcd_server && -n $etcd ]] && ((!etcd_only)); then wanted[bridge]=1; fi # its plain sync
want() { [[ -z $rows || -n ${wanted[$1]:-} ]]; }
# full_es: --etcd-server beside --etcd (without --etcd-only) joins the whole
# table: the bridge row on etcd-server and its read rows, in the same run.
full_es=0
if [[ -n $etcd_server && -n $etcd ]] && ((!etcd_only)); then full_es=1; fi

die() {
  echo "bench.sh: FAIL: $*" >&2
  exit 1
}
log() { printf '# %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
need=()
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v zstd >/dev/null || need+=(zstd)
command -v jq >/dev/null || need+=(jq)
command -v tar >/dev/null || need+=(tar)
[[ -x /usr/bin/time ]] || need+=(time)
python3 -c "import yaml" 2>/dev/null || need+=(python3-yaml)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "bench.sh needs ${need[*]} (/usr/bin/time is GNU time, package 'time')." >&2
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
logs=$work/logs
mkdir -p "$bin" "$logs"

log "building metactl and metactl-gen into $bin"
go build -C "$root" -o "$bin/metactl" ./cmd/metactl
go build -C "$root" -o "$bin/metactl-gen" ./cmd/metactl-gen
go build -C "$root" -o "$bin/metactl-adapter" ./cmd/metactl-adapter
mc=$bin/metactl

# ---------------------------------------------------------------- etcd
# etcd_rows: runs TestEtcdCosts and prints the etcd rows of the table.
etcd_rows() {
  log "etcd costs (TestEtcdCosts, METACTL_BENCH_ETCD_COSTS=$etcd)"
  (cd "$root" && METACTL_BENCH_ETCD_COSTS=$etcd go test ./cmd/metactl -run '^TestEtcdCosts$' -count 1 -timeout 3h -v) >"$logs/etcd.log" 2>&1 ||
    die "TestEtcdCosts failed, see $logs/etcd.log"
  declare -A E
  while read -r _ k v; do E[$k]=$v; done < <(grep '^etcd-cost ' "$logs/etcd.log")
  ehb() { awk -v b="$1" 'BEGIN { if (b < 1e9) printf "%.1f MB", b / 1e6; else printf "%.2f GB", b / 1e9 }'; }
  kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
  le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' && echo met || echo "MISSED"; }
  erow() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
  echo
  echo "etcd (issue 22), $(date -u '+%Y-%m-%d %H:%M UTC'): one in-process etcd member (fsync off: the costs are bytes), from its metrics"
  echo "(etcd_network_client_grpc_received_bytes_total, _sent_bytes_total, etcd_mvcc_db_total_size_in_bytes)"
  echo
  erow "Work" "metactl on etcd" "Baseline" "Ratio" "Goal" "This run"
  erow "---" "---" "---" "---" "---" "---"
  # The rows of a catalog of F files (absent with --etcd 0,L: the compaction alone).
  if [[ -n ${E[files]:-} ]]; then
    erow "one-file import into a ${E[files]}-file catalog" "sends $(kib "${E[import-one-sent-to-etcd-bytes]}"), db +$(kib "${E[import-one-db-growth-bytes]}"), ${E[import-one-seconds]} s" "—" "—" "sends ≤ 1 MiB, db ≤ +1 MiB" \
      "$(le "${E[import-one-sent-to-etcd-bytes]}" 1048576)/$(le "${E[import-one-db-growth-bytes]}" 1048576)"
    if [[ -n ${E[import-one-no-cache-seconds]:-} ]]; then
      erow "the same, a writer without the cached local copy (\`?cache=off\`: loads the catalog)" "sends $(kib "${E[import-one-no-cache-sent-to-etcd-bytes]}"), receives $(ehb "${E[import-one-no-cache-received-from-etcd-bytes]}"), ${E[import-one-no-cache-seconds]} s" "—" "—" "sends ≤ 1 MiB" \
        "$(le "${E[import-one-no-cache-sent-to-etcd-bytes]}" 1048576)"
    fi
    erow "\`status\`, fresh process, ${E[files]} files" "${E[status-seconds]} s, receives $(kib "${E[status-received-from-etcd-bytes]}")" "—" "—" "≤ 0.5 s, ≤ 1 MiB" \
      "$(le "${E[status-seconds]}" 0.5)/$(le "${E[status-received-from-etcd-bytes]}" 1048576)"
    erow "\`read\` of one file, fresh process" "${E[read-seconds]} s, receives $(kib "${E[read-received-from-etcd-bytes]}")" "—" "—" "≤ 0.5 s, ≤ 1 MiB" \
      "$(le "${E[read-seconds]}" 0.5)/$(le "${E[read-received-from-etcd-bytes]}" 1048576)"
    if [[ -n ${E[bridge-list_metadata_files-seconds]:-} ]]; then
      erow "bridge \`list_metadata_files\` / \`open_for_read\`, fresh process" "${E[bridge-list_metadata_files-seconds]} s / ${E[bridge-open_for_read-seconds]} s" "—" "—" "≤ 0.2 s each" \
        "$(le "${E[bridge-list_metadata_files-seconds]}" 0.2)/$(le "${E[bridge-open_for_read-seconds]}" 0.2)"
    else
      erow "bridge \`list_metadata_files\` / \`open_for_read\`" "not measured: this metactl has no \`adapter\` command" "—" "—" "≤ 0.2 s each" "—"
    fi
  fi
  if [[ -n ${E[compact-lines]:-} ]]; then
    r=$(awk -v s="${E[compact-sent-to-etcd-bytes]}" -v a="${E[compact-added-files-bytes]}" 'BEGIN { printf "%.2f", s / a }')
    erow "full compaction, ${E[compact-lines]} lines (${E[compact-files]} files)" "sends $(ehb "${E[compact-sent-to-etcd-bytes]}"), ${E[compact-seconds]} s" "bytes of the files it wrote: $(ehb "${E[compact-added-files-bytes]}")" "${r}×" "≤ 2×" "$(le "$r" 2)"
  fi
  if [[ -n ${E[files]:-} ]]; then
    erow "1,000 small writes (history compacted, grace 0)" "db $(ehb "${E[writes-1000-db-before-bytes]}") before, $(ehb "${E[writes-1000-db-after-bytes]}") after ($(ehb "${E[writes-1000-db-in-use-after-bytes]}") in use)" "—" "—" "bounded" "—"
  fi
  echo
}
if ((etcd_only)); then
  etcd_rows
  exit 0
fi

# ---------------------------------------------------------------- etcd-server
# etcd_server_rows: the reads of issue 22 point 2 in fresh processes against
# one member of Debian's etcd-server (fsync on, its own process), so the
# times are not shared with a test process holding the member.
es=$work/etcd-server
es_endpoints=""
# etcd_server_start: starts the member once (stopped when the script
# exits) and sets es_endpoints.
etcd_server_start() {
  [[ -z $es_endpoints ]] || return 0
  if ! [[ $etcd_server =~ ^[0-9]+$ ]] || ((etcd_server < 100)); then
    die "--etcd-server wants a file count >= 100, got $etcd_server"
  fi
  bash "$root/scripts/etcd-cluster.sh" install >&2
  rm -rf "$es" && mkdir -p "$es"
  trap 'bash "$root/scripts/etcd-cluster.sh" stop "$es/members" >/dev/null 2>&1 || true' EXIT
  es_endpoints=$(bash "$root/scripts/etcd-cluster.sh" start "$es/members" 1 | sed -n 's/^ENDPOINTS=//p')
  [[ -n $es_endpoints ]] || die "etcd-server did not start (scripts/etcd-cluster.sh start $es/members 1)"
}
etcd_server_rows() {
  local st cat url handle
  etcd_server_start
  st=$es/storage cat=$es/c.db url="etcd://$es_endpoints/bench"
  "$bin/metactl-gen" --out "$st" --epochs $((etcd_server / 4)) --snapshot-interval 2 >/dev/null
  "$mc" --catalog "$cat" import --local-fs-dir "$st" >/dev/null
  "$mc" copy --from "$cat" --to "$url" >/dev/null
  local f n=0
  for f in "$st"/metadata/*; do
    ((n == 0)) && handle=metadata/${f##*/}
    n=$((n + 1))
  done
  log "etcd-server: $n files copied into $url"
  measure es_status nop "$mc" --catalog "$url" status
  measure es_read nop "$mc" --catalog "$url" read "$handle"
  measure es_list nop "$mc" --catalog "$url" adapter --local-fs-dir "$st" list_metadata_files
  [[ $(wc -l <"$logs/es_list.out") -eq $n ]] || die "list_metadata_files listed $(wc -l <"$logs/es_list.out") of $n files"
  measure es_open nop env FILE_HANDLE="$handle" "$mc" --catalog "$url" adapter --local-fs-dir "$st" open_for_read
  cmp -s "$logs/es_open.out" "$st/$handle" || die "open_for_read of $handle differs from the file"
  echo "reads on Debian's etcd-server ($(etcd --version | sed -n 1p)), one member, $n files, $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
  echo "command: $cmdline (medians of $repeat fresh processes)"
  echo
  echo "| Work | metactl on etcd-server | Goal | This run |"
  echo "| --- | --- | --- | --- |"
  local k goal
  for k in es_status:"\`status\`":0.5 es_read:"\`read\` of one file":0.5 es_list:"bridge \`list_metadata_files\`":0.2 es_open:"bridge \`open_for_read\`":0.2; do
    IFS=: read -r key what goal <<<"$k"
    printf '| %s, fresh process | %s, peak %s | ≤ %s s | %s |\n' "$what" "$(dur "$key")" "$(mib "$key")" "$goal" \
      "$(verdict le "$(awk -v n="${T[$key]}" 'BEGIN { print n / 1e9 }')" "$goal")"
  done
}

# ---------------------------------------------------------------- memory (issue 21)
# memory_rows: first imports of the same N transaction lines laid out four
# ways, each run under GNU time (peak RSS: %M, the whole process's maximum
# resident set; CPU: user + system), medians of --repeat runs for the
# times, maxima for the peaks. With --baseline-bin, that binary runs each
# import too, alternating with this build.
memory_rows() {
  local mem=$work/memory
  rm -rf "$mem"
  mkdir -p "$mem/one/metadata" "$mem/onegz/metadata" "$mem/hundredgz/metadata" "$mem/small/metadata"
  log "memory: generating $lines transaction lines"
  # Transaction lines as Aptos writes them, ~130 bytes each at 1M.
  awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++) printf "{\"TransactionBackup\":{\"first_version\":%.0f,\"last_version\":%.0f,\"manifest\":\"transaction_%.0f-.%04x/transaction.manifest\"}}\n", i * 1000000, i * 1000000 + 999999, i * 1000000, i % 65536 }' \
    >"$mem/one/metadata/transaction_compacted_0-$((lines * 1000000 - 1)).meta"
  local big=$mem/one/metadata/transaction_compacted_0-$((lines * 1000000 - 1)).meta
  gzip -1 -c "$big" >"$mem/onegz/metadata/$(basename "$big")"
  split -n l/100 -d -a 3 --additional-suffix=.meta "$big" "$mem/hundredgz/metadata/transaction_part_"
  for f in "$mem/hundredgz/metadata/"*.meta; do gzip -1 "$f" && mv "$f.gz" "$f"; done
  split -l 100 -d -a 6 --additional-suffix=.meta "$big" "$mem/small/metadata/transaction_part_"
  # The existing catalog of the second table: one file of 100 lines,
  # versions past the storage's (every later import, sync or drop-in
  # round takes the path of an existing catalog).
  mkdir -p "$mem/seed/metadata"
  awk 'BEGIN { for (i = 0; i < 100; i++) printf "{\"TransactionBackup\":{\"first_version\":%.0f,\"last_version\":%.0f,\"manifest\":\"seed_%d/transaction.manifest\"}}\n", 2e15 + i * 1000, 2e15 + i * 1000 + 999, i }' \
    >"$mem/seed/metadata/transaction_compacted_2000000000000000-2000000000099999.meta"
  "$mc" -q --catalog "$mem/seed.db" import --local-fs-dir "$mem/seed" >/dev/null || die "memory: the seed catalog's import failed"
  local bytes nsmall
  bytes=$(fsize "$big")
  nsmall=$(find "$mem/small/metadata" -type f | wc -l)
  local -A M # key -> "wall_ns cpu_s peak_kib" per run, newline-separated
  local where="a catalog file in $mem"
  if ((memory_etcd)); then
    bash "$root/scripts/etcd-cluster.sh" install >&2
    where="etcd, one member of Debian's etcd-server ($(etcd --version | sed -n 1p)), fsync on, a fresh member for every import"
    trap 'bash "$root/scripts/etcd-cluster.sh" stop "$mem/etcd" >/dev/null 2>&1 || true' EXIT
  fi
  # mcat: a new, empty catalog location for one run: the file, or a
  # fresh etcd-server member (and writers' local copies cached under
  # $mem/cache, emptied too).
  mcat() {
    rm -f "$mem/c.db" "$mem/c.db.lock"
    if ((memory_etcd == 0)); then
      echo "$mem/c.db"
      return
    fi
    bash "$root/scripts/etcd-cluster.sh" stop "$mem/etcd" >/dev/null 2>&1 || true
    rm -rf "$mem/etcd" "$mem/cache"
    local ep
    ep=$(bash "$root/scripts/etcd-cluster.sh" start "$mem/etcd" 1 | sed -n 's/^ENDPOINTS=//p')
    [[ -n $ep ]] || die "memory: etcd-server did not start (scripts/etcd-cluster.sh start $mem/etcd 1)"
    echo "etcd://$ep/memory"
  }
  mrun() { # KEY BIN STORAGE [SEEDED]
    local key=$1 b=$2 st=$3 seeded=${4:-} t0 t1 entries=$lines cat
    cat=$(mcat)
    if [[ -n $seeded ]]; then
      if ((memory_etcd)); then
        XDG_CACHE_HOME=$mem/cache "$b" -q --catalog "$cat" import --local-fs-dir "$mem/seed" >/dev/null || die "memory $key: the seed's import into $cat failed"
      else
        cp "$mem/seed.db" "$mem/c.db"
      fi
      entries=$((lines + 100))
    fi
    sync -f "$mem" # no settle: the peak is the figure, and CPU time beside the wall
    t0=$(date +%s%N)
    XDG_CACHE_HOME=$mem/cache /usr/bin/time -f '%U %S %M' -o "$logs/mem-$key.time" "$b" -q --catalog "$cat" import --local-fs-dir "$st" >"$logs/mem-$key.out" 2>"$logs/mem-$key.err" ||
      die "memory $key: import failed, see $logs/mem-$key.err"
    t1=$(date +%s%N)
    grep -q "$lines lines, $entries entries in the view" "$logs/mem-$key.out" ||
      die "memory $key: the import did not report $lines lines and $entries entries: $(cat "$logs/mem-$key.out")"
    M[$key]+="$((t1 - t0)) $(tail -n 1 "$logs/mem-$key.time" | awk '{ printf "%.2f %d", $1 + $2, $3 }')"$'\n'
  }
  local layouts=(one onegz hundredgz small) xlayouts=(one hundredgz small) st k i
  for ((i = 1; i <= repeat; i++)); do
    for st in "${layouts[@]}"; do
      mrun "new-$st" "$mc" "$mem/$st"
      if [[ -n $baseline_bin ]]; then mrun "base-$st" "$baseline_bin" "$mem/$st"; fi
    done
    for st in "${xlayouts[@]}"; do
      mrun "new-x-$st" "$mc" "$mem/$st" seeded
      if [[ -n $baseline_bin ]]; then mrun "base-x-$st" "$baseline_bin" "$mem/$st" seeded; fi
    done
  done
  # fig KEY: "1.23 s (CPU 2.34 s), peak 345 MiB" from the runs of KEY
  med() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  fig() {
    local w c
    w=$(printf '%s' "${M[$1]}" | awk 'NF { print $1 }' | med)
    c=$(printf '%s' "${M[$1]}" | awk 'NF { print $2 }' | med)
    awk -v w="$w" -v c="$c" -v p="$(peak "$1")" 'BEGIN { printf "%.2f s (CPU %.2f s), peak %d MiB", w / 1e9, c, p }'
  }
  peak() { printf '%s' "${M[$1]}" | awk 'NF && $3 > p { p = $3 } END { printf "%.0f", p / 1024 }'; }
  local -A what=(
    [one]="1 file of $lines lines ($(hb "$bytes"))"
    [onegz]="the same file gzip'd ($(hb "$(fsize "$mem/onegz/metadata/$(basename "$big")")"))"
    [hundredgz]="$lines lines in 100 gzip'd files"
    [small]="$lines lines in $nsmall files of 100 lines"
  )
  echo
  echo "memory of a first import (issue 21), $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $machine"
  echo "command: scripts/bench.sh --memory$( ((memory_etcd)) && echo " --memory-etcd") --lines $lines --repeat $repeat${baseline_bin:+ --baseline-bin $baseline_bin}"
  echo "catalog: $where; load average $load_start at the start, $(cut -d ' ' -f 1-3 /proc/loadavg) at the end"
  echo "wall and CPU (user + system) times are medians of $repeat runs; peak = largest resident set of one run (GNU time %M)."
  echo
  # mtable TITLE PREFIX KEY...: one table, the runs "new-PREFIXKEY"
  # (and "base-PREFIXKEY" with --baseline-bin) of each layout KEY.
  mtable() {
    local title=$1 px=$2 k
    shift 2
    if [[ -n $baseline_bin ]]; then
      printf '| %s | %s | %s | %s |\n' "$title" "this build" "baseline ($(basename "$baseline_bin"))" "peak ratio"
      printf '| %s | %s | %s | %s |\n' "---" "---" "---" "---"
      for k; do
        printf '| %s | %s | %s | %s |\n' "${what[$k]}" "$(fig "new-$px$k")" "$(fig "base-$px$k")" \
          "$(awk -v a="$(peak "new-$px$k")" -v b="$(peak "base-$px$k")" 'BEGIN { printf "%.2f×", a / b }')"
      done
    else
      printf '| %s | %s | %s |\n' "$title" "this build" "peak ≤ 256 MiB"
      printf '| %s | %s | %s |\n' "---" "---" "---"
      for k; do
        printf '| %s | %s | %s |\n' "${what[$k]}" "$(fig "new-$px$k")" "$(verdict le "$(peak "new-$px$k")" 256)"
      done
    fi
  }
  mtable "Import" "" "${layouts[@]}"
  echo
  echo "the same imports into an existing catalog (one file of 100 lines): import, sync and the drop-in after the first"
  echo
  mtable "Import into an existing catalog" "x-" "${xlayouts[@]}"
  echo
  if ((memory_etcd)); then
    bash "$root/scripts/etcd-cluster.sh" stop "$mem/etcd" >/dev/null 2>&1 || true
  fi
  if ((keep == 0)); then rm -rf "$mem"; fi
}

# ---------------------------------------------------------------- timing
declare -A T   # median wall time, nanoseconds
declare -A RSS # peak RSS over the runs, KiB

declare -A TS # every run's wall time so far, nanoseconds, space-separated

# settle: wait (at most 20 s) until the kernel reports the I/O of earlier
# steps done (/proc/pressure/io "some avg10" below 1%), so a run is not
# billed for the write-back of the files its PREP or an earlier step
# wrote. On a machine shared with other jobs the pressure may never fall
# (the 60 s of earlier versions then cost an hour over a whole run), so
# it times anyway after 20 s and says so. Without PSI it returns at once.
settle() {
  local p i
  [[ -r /proc/pressure/io ]] || return 0
  for ((i = 0; i < 20; i++)); do
    p=$(awk '/^some/ { sub("avg10=", "", $2); print $2 }' /proc/pressure/io)
    awk -v p="$p" 'BEGIN { exit !(p < 1.0) }' && return 0
    sleep 1
  done
  log "settle: I/O pressure still ${p}% after 20 s; timing anyway"
}

# measure KEY PREP CMD...: R times, run PREP (a function, untimed), sync the
# work folder's filesystem (so no earlier write-back is billed to CMD), wait
# for the I/O to settle, then run CMD under GNU time with stdout to
# $logs/KEY.out and stderr to $logs/KEY.err. Keeps the median wall time
# (date +%s%N around the run) and the peak RSS over all runs of KEY so far,
# so calls with repeat=1 in a loop interleave two measurements (see the
# folder export row).
measure() {
  local key=$1 prep=$2 i t0 t1 r
  shift 2
  : "${RSS[$key]:=0}"
  for ((i = 1; i <= repeat; i++)); do
    "$prep"
    sync -f "$work"
    settle
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%M' -o "$logs/$key.time" "$@" >"$logs/$key.out" 2>"$logs/$key.err"; then
      tail -n 20 "$logs/$key.err" >&2
      die "$key: '$*' failed (logs in $logs)"
    fi
    t1=$(date +%s%N)
    TS[$key]+="$((t1 - t0)) "
    r=$(tail -n 1 "$logs/$key.time")
    if ((r > RSS[$key])); then RSS[$key]=$r; fi
  done
  # shellcheck disable=SC2086 # one word per run
  T[$key]=$(printf '%s\n' ${TS[$key]} | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }')
  log "$(printf '%-16s median of %d: %s, peak RSS %s' "$key" "$(wc -w <<<"${TS[$key]}")" "$(dur "$key")" "$(mib "$key")")"
}
nop() { :; }

# dur KEY: "1.23 s" or "45 ms"
dur() { awk -v n="${T[$1]}" 'BEGIN { if (n < 1e9) printf "%.0f ms", n / 1e6; else printf "%.2f s", n / 1e9 }'; }
# mib KEY: peak RSS as "313 MiB" or "1.49 GiB"
mib() { awk -v k="${RSS[$1]}" 'BEGIN { if (k < 1048576) printf "%.0f MiB", k / 1024; else printf "%.2f GiB", k / 1048576 }'; }
fsize() { stat -c %s "$1"; }
hb() { awk -v b="$1" 'BEGIN { if (b < 1e9) printf "%.1f MB", b / 1e6; else printf "%.2f GB", b / 1e9 }'; }
# tratio MINE BASE: MINE's time over BASE's ("1.84")
tratio() { awk -v m="${T[$1]}" -v b="${T[$2]}" 'BEGIN { printf "%.2f", m / b }'; }
# lt A B: exit 0 if A <= B (floats)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
ms() { awk -v n="${T[$1]}" 'BEGIN { printf "%.3f", n / 1e6 }'; }
rss_mib() { awk -v k="${RSS[$1]}" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { if "$@"; then echo met; else echo MISSED; fi; }

# ---------------------------------------------------------------- machine
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //' || true)
mem=$(free -h | awk '/^Mem:/ { print $2 }')
fstype=$(df -PT "$work" | awk 'NR == 2 { print $2 }')
machine="$(nproc) CPUs ($cpu), $mem RAM (free -h), $fstype at $work, $(uname -sr), $(go version | awk '{ print $3 }')"
log "machine: $machine"
if ((memory)); then
  memory_rows
  exit 0
fi
if [[ -n $etcd_server ]] && ((!full_es)); then
  etcd_server_rows
  exit 0
fi

# ---------------------------------------------------------------- storages
# gen DIR N: a LocalFs storage of about N one-line files. metactl-gen
# writes about 4 files per epoch with a snapshot every 2 epochs.
gen() {
  rm -rf "$1"
  "$bin/metactl-gen" --out "$1" --epochs $((($2 + 3) / 4)) --snapshot-interval 2 --json >"$logs/gen-$(basename "$1").json"
}
st1=$work/oneline      # F one-line files
st2=$work/multiline    # N lines in N/100 files of 100 lines
st3=$work/archivesrc   # A one-line files
stm=$work/mainnet      # M one-line files
ccat=$work/compacted.db
sq=$work/sqlite.db
# Only the storages of the rows asked for (--rows).
want_st2() { want import2 || want compact || want archive; }
want_st3() { want archive-read || want folder-export; }
log "generating the storages${rows:+ of rows $rows}: $files and $afiles and $mlines one-line files, $lines lines in files of 100"
if want import1; then gen "$st1" "$files"; fi
if want_st3; then gen "$st3" "$afiles"; fi
if want mainnet || want bridge; then gen "$stm" "$mlines"; fi
nfiles1=0 nfiles2=0 nlines2=0 plain2=0 nfiles3=0 nfilesm=0
if want_st2; then
gen "$work/all" "$lines"
# The multi-line storage: the same lines as a one-line storage of N files,
# concatenated in name order and cut into files of 100 lines.
mkdir -p "$st2/metadata"
find "$work/all/metadata" -type f -print0 | sort -z | xargs -0 cat |
  split -l 100 -d -a 6 --additional-suffix=.meta - "$st2/metadata/batch_"
rm -rf "$work/all"
nfiles2=$(find "$st2/metadata" -type f | wc -l)
nlines2=$(find "$st2/metadata" -type f -print0 | xargs -0 cat | wc -l)
plain2=$(find "$st2/metadata" -type f -print0 | xargs -0 cat | wc -c)
fi
if want import1; then nfiles1=$(jq -r .files "$logs/gen-oneline.json"); fi
if want_st3; then nfiles3=$(jq -r .files "$logs/gen-archivesrc.json"); fi
if want mainnet || want bridge; then nfilesm=$(jq -r .files "$logs/gen-mainnet.json"); fi
log "one-line: $nfiles1 files; multi-line: $nlines2 lines in $nfiles2 files ($(hb "$plain2")); archive source: $nfiles3 files; mainnet: $nfilesm files"

# Earlier outputs are moved aside into $aside (removed at the end of the
# run), not deleted before the next timed run: on an ext4 without a journal
# (this VM's root filesystem) the inode allocator skips every inode freed
# in the last 60 s (360 s while its inode table block is dirty), one buffer
# lookup each (recently_deleted() in fs/ext4/ialloc.c), so creating 200k
# files right after deleting 200k took 25 s where it takes 3 s otherwise,
# for cp and metactl alike. A fresh export does not follow a deletion of
# its own size; neither does the baseline now.
aside=$work/aside
mkdir -p "$aside"
naside=0
put_aside() {
  local p
  for p in "$@"; do
    if [[ -e $p ]]; then
      naside=$((naside + 1))
      mv "$p" "$aside/$naside"
    fi
  done
}

# Each row's section runs only if the row is asked for (want ROW); the
# sections keep their indentation.

# ---------------------------------------------------------------- 1. import one-line files
if want import1; then
cat1=$work/oneline.db
rm_cat1() { rm -f "$cat1" "$cat1.lock"; }
measure import1 rm_cat1 "$mc" --catalog "$cat1" import --local-fs-dir "$st1"
# shellcheck disable=SC2016 # expanded by the inner bash
measure cat1 nop bash -c 'set -euo pipefail; find "$1/metadata" -type f -print0 | xargs -0 cat >/dev/null' _ "$st1"
fi

# ---------------------------------------------------------------- 2. import the multi-line storage
cat2=$work/multiline.db
rm_cat2() { rm -f "$cat2" "$cat2.lock"; }
if want_st2 && ! want import2; then
  rm_cat2
  "$mc" --catalog "$cat2" import --local-fs-dir "$st2" >/dev/null
fi
if want import2; then
measure import2 rm_cat2 "$mc" --catalog "$cat2" import --local-fs-dir "$st2"
catalog2=$(fsize "$cat2")
# The same bytes into sqlite3: every line into a table, then the fields the
# storage state needs extracted with json_extract into an indexed table.
rm_sq() { rm -f "$sq"; }
sq_sql=(
  'CREATE TABLE raw(line TEXT);'
  '.mode ascii'
  '.separator "\037" "\n"'
  '.import /dev/stdin raw'
  "CREATE TABLE entries(kind TEXT, a INTEGER, b INTEGER, line TEXT);"
  "INSERT INTO entries SELECT
     CASE WHEN line LIKE '{\"EpochEndingBackup\"%' THEN 'e'
          WHEN line LIKE '{\"StateSnapshotBackup\"%' THEN 's'
          WHEN line LIKE '{\"TransactionBackup\"%' THEN 't' ELSE 'o' END,
     coalesce(json_extract(line, '\$.EpochEndingBackup.last_epoch'), json_extract(line, '\$.StateSnapshotBackup.epoch'),
              json_extract(line, '\$.TransactionBackup.last_version')),
     json_extract(line, '\$.StateSnapshotBackup.version'), line FROM raw;"
  'DROP TABLE raw;'
  'CREATE INDEX entries_kab ON entries(kind, a, b);'
)
# shellcheck disable=SC2016
measure sqlite_import rm_sq bash -c 'set -euo pipefail; db=$1 dir=$2; shift 2; find "$dir/metadata" -type f -print0 | sort -z | xargs -0 cat | sqlite3 "$db" "$@"' _ "$sq" "$st2" "${sq_sql[@]}"
fi

# ---------------------------------------------------------------- 3. status
if want status; then
measure status nop "$mc" --catalog "$cat2" status
sq_state="SELECT 'latest_epoch_ending_epoch: ' || coalesce((SELECT max(a) FROM entries WHERE kind = 'e'), 'none')
  || ', latest_state_snapshot_epoch: ' || coalesce((SELECT a FROM entries WHERE kind = 's' ORDER BY a DESC, b DESC LIMIT 1), 'none')
  || ', latest_state_snapshot_version: ' || coalesce((SELECT b FROM entries WHERE kind = 's' ORDER BY a DESC, b DESC LIMIT 1), 'none')
  || ', latest_transaction_version: ' || coalesce((SELECT max(a) FROM entries WHERE kind = 't'), 'none');"
measure sqlite_status nop sqlite3 "$sq" "$sq_state"
[[ $(cat "$logs/status.out") == "$(cat "$logs/sqlite_status.out")" ]] ||
  die "metactl status and the sqlite3 query disagree: $(cat "$logs/status.out") / $(cat "$logs/sqlite_status.out")"
log "status check: metactl status == sqlite3 query: $(cat "$logs/status.out")"
fi
if want_st2; then
digest=$("$mc" --catalog "$cat2" --json status | jq -r .view_digest)
entries2=$("$mc" --catalog "$cat2" --json status | jq -r .entries)
fi

# ---------------------------------------------------------------- 4. compaction
if want compact; then
cp_cat2() { rm -f "$ccat" "$ccat.lock" && cp "$cat2" "$ccat"; }
measure compact cp_cat2 "$mc" --catalog "$ccat" compact \
  --epoch-ending-file-compact-factor 100 --state-snapshot-file-compact-factor 100 \
  --transaction-file-compact-factor 100
[[ $("$mc" --catalog "$ccat" --json status | jq -r .view_digest) == "$digest" ]] ||
  die "compaction changed the view digest"
ccatalog=$(fsize "$ccat")
cplain=$("$mc" --catalog "$ccat" --json ls | jq '[.files[].size] | add')
fi

# ---------------------------------------------------------------- 5. archive export
if want archive; then
arch2=$work/multiline.mcar
plain=$work/multiline.plain
zst=$work/multiline.plain.zst
rm_arch2() { rm -f "$arch2"; }
measure export_archive rm_arch2 "$mc" --catalog "$cat2" export --archive "$arch2"
zstd -dq <"$arch2" >"$plain" || die "the archive is not a plain zstd stream ('zstd -d' failed)"
# shellcheck disable=SC2016
measure zstd nop bash -c 'zstd -3 -T2 -q -c <"$1" >"$2"' _ "$plain" "$zst"
arch_bytes=$(fsize "$arch2")
zst_bytes=$(fsize "$zst")
rm -f "$plain" "$zst"
fi

# ---------------------------------------------------------------- 7. archive read, 8. folder export
cat3=$work/archivesrc.db
arch3=$work/archivesrc.mcar
if want_st3; then
"$mc" --catalog "$cat3" import --local-fs-dir "$st3" >/dev/null
fi
if want archive-read; then
"$mc" --catalog "$cat3" export --archive "$arch3" >/dev/null
measure status_archive nop "$mc" --catalog "$arch3" status
[[ $(cat "$logs/status_archive.out") == "$("$mc" --catalog "$cat3" status)" ]] ||
  die "status read from the archive differs from the catalog's"
fi
if want folder-export; then
exp=$work/exported
cpd=$work/copied
rm_exp() { put_aside "$exp"; }
rm_cpd() { put_aside "$cpd" && mkdir -p "$cpd"; }
# cp does not fsync; metactl export makes every file and folder durable.
# The baseline prices that durability with one syncfs of the copy's
# filesystem. The two alternate, run by run, so both meet the same state
# of the filesystem (creating 200k files is far from steady on a VM).
saved_repeat=$repeat
repeat=1
for ((k = 1; k <= saved_repeat; k++)); do
  measure export_dir rm_exp "$mc" --catalog "$cat3" export --local-fs-dir "$exp"
  # shellcheck disable=SC2016
  measure cp_sync rm_cpd bash -c 'cp -r "$1" "$2/" && sync -f "$2"' _ "$st3/metadata" "$cpd"
done
repeat=$saved_repeat
[[ $(find "$exp/metadata" -type f | wc -l) == "$nfiles3" ]] || die "the folder export did not write $nfiles3 files"
diff -rq "$exp/metadata" "$cpd/metadata" >/dev/null || die "the folder export differs from the storage it was imported from"
put_aside "$cpd" "$exp"
fi

# ---------------------------------------------------------------- 9. mainnet scale
if want mainnet; then
catm=$work/mainnet.db
rm_catm() { rm -f "$catm" "$catm.lock" "$work/mainnet.mcar"; }
# shellcheck disable=SC2016
measure mainnet rm_catm bash -c 'set -euo pipefail; mc=$1 db=$2 st=$3
  "$mc" --catalog "$db" import --local-fs-dir "$st"
  "$mc" --catalog "$db" compact --epoch-ending-file-compact-factor 100 \
    --state-snapshot-file-compact-factor 100 --transaction-file-compact-factor 100
  "$mc" --catalog "$db" export --archive "${db%.db}.mcar"' _ "$mc" "$catm" "$stm"
fi

# ---------------------------------------------------------------- 10. the bridge: Aptos's metadata sync
# What Aptos's restore does first (scripts/aptos-sync.sh: list, then open
# every file 8 at a time into a fresh cache, a bash -c per call) on the
# mainnet-scale storage: through a plain local-folder command-adapter config
# (a `cat` per file), and through the bridge config 'metactl adapter-config'
# writes around that config, over a catalog of the same storage: a file
# catalog (the lean metactl-adapter in the config) and, with
# --etcd-server, the same catalog copied into the Debian etcd-server member
# (metactl-adapter in the config too: it has no etcd client, and sends the
# read calls to the per-host adapter server, which the first call starts;
# docs/aptos-bridge.md). They
# alternate run by run, --bridge-repeat times (default 1: a 40k-file sync
# is 40k processes), and every sync's cache is checked against the storage.
if want bridge; then
catb=$work/bridge.db
"$mc" --catalog "$catb" import --local-fs-dir "$stm" >/dev/null
plaincfg=$work/plain-folder.yaml
cat >"$plaincfg" <<YAML
env_vars:
  - key: FOLDER
    value: '$stm'
commands:
  create_backup: 'mkdir -p "\$FOLDER/\$BACKUP_NAME"; echo "\$BACKUP_NAME"'
  create_for_write: 'FILE_HANDLE="\$BACKUP_HANDLE/\$FILE_NAME"; echo "\$FILE_HANDLE"; exec 1>&-; cat >"\$FOLDER/\$FILE_HANDLE"'
  open_for_read: 'cat "\$FOLDER/\$FILE_HANDLE"'
  save_metadata_line: 'FILE_HANDLE="metadata/\$FILE_NAME"; echo "\$FILE_HANDLE"; exec 1>&-; cat >"\$FOLDER/\$FILE_HANDLE"'
  list_metadata_files: '(ls "\$FOLDER/metadata" || :) | sed -e "s#^#metadata/#"'
  backup_metadata_file: 'mkdir -p "\$FOLDER/metadata_backup"; mv "\$FOLDER/metadata/\$FILE_NAME" "\$FOLDER/metadata_backup/\$FILE_NAME"'
YAML
bridgecfg=$work/bridge.yaml
"$mc" --catalog "$catb" adapter-config --command-adapter-config "$plaincfg" -o "$bridgecfg"
grep -q "metactl-adapter" "$bridgecfg" || die "the bridge config does not use metactl-adapter"
syncs=$work/syncs
rm_syncs() { put_aside "$syncs" && mkdir -p "$syncs"; }
# check_sync KEY: the cache of the sync just run holds every file of the
# storage, byte for byte (the cache names a handle with / as _).
stm_sum=$(find "$stm/metadata" -type f -print0 | sort -z | xargs -0 cat | md5sum)
check_sync() {
  local n
  n=$(find "$syncs/cache" -type f | wc -l)
  [[ $n == "$nfilesm" ]] || die "$1: the sync loaded $n of $nfilesm files"
  [[ $(find "$syncs/cache" -type f -print0 | sort -z | xargs -0 cat | md5sum) == "$stm_sum" ]] ||
    die "$1: the synced files differ from the storage's"
}
bridge_keys=(sync_plain sync_bridge)
if ((full_es)); then
  etcd_server_start
  burl="etcd://$es_endpoints/bridge"
  "$mc" copy --from "$catb" --to "$burl" >/dev/null
  bridgecfg_etcd=$work/bridge-etcd.yaml
  "$mc" --catalog "$burl" adapter-config --command-adapter-config "$plaincfg" -o "$bridgecfg_etcd"
  bridge_keys+=(sync_bridge_etcd)
fi
saved_repeat=$repeat
repeat=1
for ((k = 1; k <= bridge_repeat; k++)); do
  for key in "${bridge_keys[@]}"; do
    case $key in
    sync_plain) cfg=$plaincfg ;;
    sync_bridge) cfg=$bridgecfg ;;
    sync_bridge_etcd) cfg=$bridgecfg_etcd ;;
    esac
    measure "$key" rm_syncs "$root/scripts/aptos-sync.sh" "$cfg" "$syncs/cache"
    check_sync "$key"
  done
done
if ((full_es)); then
  # The same etcd sync again on the member restarted (SIGKILL, then start
  # from its data folder), as a control. A bulk write (the copy above)
  # grows etcd 3.4's read buffer, which its read path copies whole on every
  # read request (etcd-io/etcd#12529, fixed in 3.5): before metactl freed
  # it, a read right after the copy cost the member about 8 times what it
  # costs a restarted member. metactl now frees it after every write of
  # 512 keys or more (catalog/etcdstore/release.go; docs/aptos-bridge.md,
  # "Releasing etcd 3.4's read buffer"), so the two rows should agree; a
  # gap between them says the release did not happen. Both are printed.
  bash "$root/scripts/etcd-cluster.sh" kill "$es/members" 0 >/dev/null
  bash "$root/scripts/etcd-cluster.sh" restart "$es/members" 0 >/dev/null
  for ((k = 1; k <= bridge_repeat; k++)); do
    measure sync_bridge_etcd_restarted rm_syncs "$root/scripts/aptos-sync.sh" "$bridgecfg_etcd" "$syncs/cache"
    check_sync sync_bridge_etcd_restarted
  done
fi
repeat=$saved_repeat
put_aside "$syncs"
fi
if ((full_es)); then
  # The read rows of issue 22 on the same member, printed after the table.
  etcd_server_rows >"$logs/etcd-server-table.md"
fi

# ---------------------------------------------------------------- report
if want import1; then r1=$(tratio import1 cat1); fi
if want import2; then r2=$(tratio sqlite_import import2); fi # > 1: metactl faster
if want archive; then
  r5t=$(awk -v m="${T[export_archive]}" -v z="${T[zstd]}" 'BEGIN { printf "%.2f", z / m }')
  r5s=$(awk -v a="$arch_bytes" -v z="$zst_bytes" 'BEGIN { printf "%.3f", a / z }')
fi
if want size; then
  r6a=$(awk -v c="$catalog2" -v p="$plain2" 'BEGIN { printf "%.2f", c / p }')
  r6c=$(awk -v c="$ccatalog" -v p="$cplain" 'BEGIN { printf "%.2f", c / p }')
fi
if want folder-export; then r8=$(tratio export_dir cp_sync); fi
if want bridge; then r10=$(tratio sync_bridge sync_plain); fi

row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
echo
echo "metactl performance (issue 11), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $machine"
echo "command: $cmdline (${rows:+--rows $rows }--lines $lines --files $files --archive-files $afiles --mainnet-lines $mlines --repeat $repeat --bridge-repeat $bridge_repeat)"
echo "load average (1, 5, 15 min) at the start: $load_start; at the end of the table: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "times are medians of $repeat runs (the bridge rows: $bridge_repeat), peak = largest resident set of one run; page cache warm."
echo
row "Work" "metactl" "Baseline in the same run" "Ratio" "Goal" "This run"
row "---" "---" "---" "---" "---" "---"
want import1 && row "import $nfiles1 one-line files" "$(dur import1), peak $(mib import1)" "\`find \\| xargs cat\` $(dur cat1)" "${r1}× the time" "≤ 1.0×" \
  "$(verdict le "$r1" 1.0)"
want import2 && row "import $nlines2 lines ($nfiles2 files of 100 lines)" "$(dur import2), peak $(mib import2)" "sqlite3 \`.import\` + \`json_extract\` into an indexed table $(dur sqlite_import)" "$(awk -v r="$r2" 'BEGIN { if (r >= 1) printf "%.2f× faster", r; else printf "%.2f× slower", 1 / r }')" "≥ 2× faster, peak ≤ 384 MiB" \
  "$(verdict eval "le 2 $r2 && le $(rss_mib import2) 384")"
want status && row "\`status\`, fresh process, $entries2-entry catalog" "$(dur status), peak $(mib status)" "sqlite3 one-shot \`max()\` query $(dur sqlite_status)" "$(tratio status sqlite_status)× the time" "≤ 50 ms" \
  "$(verdict le "$(ms status)" 50)"
want compact && row "compaction of $entries2 entries, factor 100" "$(dur compact), peak $(mib compact)" "—" "—" "≤ 5 s, peak ≤ 768 MiB" \
  "$(verdict eval "le $(ms compact) 5000 && le $(rss_mib compact) 768")"
want archive && row "archive export ($(hb "$arch_bytes"))" "$(dur export_archive), peak $(mib export_archive)" "\`zstd -3 -T2\` of the same plaintext $(dur zstd)" "${r5t}× its throughput, ${r5s}× its size" "≥ 0.6×, size ≤ 1.05×" \
  "$(verdict eval "le 0.6 $r5t && le $r5s 1.05")"
want size && row "catalog file after import / after compaction" "$(hb "$catalog2") / $(hb "$ccatalog")" "plaintext $(hb "$plain2") / $(hb "$cplain")" "${r6a}× / ${r6c}×" "≤ 2× after either" \
  "$(verdict eval "le $r6a 2 && le $r6c 2")"
want archive-read && row "read-only command on a $nfiles3-file archive (\`--catalog X.mcar status\`)" "$(dur status_archive), peak $(mib status_archive)" "—" "—" "≤ 1 s, memory bounded" \
  "$(verdict le "$(ms status_archive)" 1000)"
want folder-export && row "fresh folder export, $nfiles3 files" "$(dur export_dir), peak $(mib export_dir)" "\`cp -r\` + \`sync\` $(dur cp_sync)" "${r8}× the time" "≤ 1.0×" \
  "$(verdict le "$r8" 1.0)"
want mainnet && row "mainnet scale: import + compact + export --archive, $nfilesm one-line files" "$(dur mainnet), peak $(mib mainnet)" "—" "—" "< 1 s" \
  "$(verdict le "$(ms mainnet)" 1000)"
want bridge && row "Aptos-style 8-way metadata sync of $nfilesm files through the bridge config, file catalog" "$(dur sync_bridge)" "the same sync through a plain local-folder config (\`cat\` per file) $(dur sync_plain)" "${r10}× the time" "≤ 1.5×" \
  "$(verdict le "$r10" 1.5)"
if ((full_es)); then
  r10e=$(tratio sync_bridge_etcd sync_plain)
  row "the same sync through the bridge config, the catalog on etcd-server (one member)" "$(dur sync_bridge_etcd)" "the plain sync above $(dur sync_plain)" "${r10e}× the time" "≤ 1.5×" \
    "$(verdict le "$r10e" 1.5)"
  r10r=$(tratio sync_bridge_etcd_restarted sync_plain)
  row "the same sync on etcd-server, the member restarted after the copy (etcd 3.4's read buffer, see section 10)" "$(dur sync_bridge_etcd_restarted)" "the plain sync above $(dur sync_plain)" "${r10r}× the time" "≤ 1.5×" \
    "$(verdict le "$r10r" 1.5)"
fi
echo
checks=()
if want status; then checks+=("status == the sqlite3 query"); fi
if want archive-read; then checks+=("status from the archive == the catalog's"); fi
if want compact; then checks+=("compaction kept the view digest"); fi
if want folder-export; then checks+=("the folder export == the storage"); fi
if want bridge; then checks+=("every sync's cache == the storage"); fi
msg=""
for c in "${checks[@]}"; do msg+="${msg:+; }$c"; done
echo "checks passed: $msg."
if [[ -n $etcd ]]; then
  etcd_rows
fi
if ((full_es)); then
  cat "$logs/etcd-server-table.md"
  echo
fi
echo "load average at the end of the run: $(cut -d ' ' -f 1-3 /proc/loadavg)"
rm -rf "$aside"

if ((keep == 0)); then
  rm -rf "$st1" "$st2" "$st3" "$stm" "$ccat" "$ccat.lock" "$sq"
  echo "(bulky folders removed; binaries, catalogs, archives and logs are in $work)"
else
  echo "(everything is in $work)"
fi
