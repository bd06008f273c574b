#!/bin/bash
# aptos-sync.sh CONFIG CACHE: what Aptos's metadata cache sync does through
# a command-adapter config (docs/aptos-format.md §5.1, §9.2): run
# list_metadata_files, then open_for_read of every listed handle, 8 at a
# time, each as `bash -c "set -o nounset -o errexit -o pipefail; CMD"` with
# the config's env_vars and FILE_HANDLE, into the fresh cache folder CACHE.
# Exits non-zero if any call fails. Needs python3 with PyYAML (Debian:
# python3-yaml) to read the config.
set -o nounset -o errexit -o pipefail
config=$1 cache=$2
mkdir "$cache"
# The config's commands and env_vars, read with python3's yaml.
eval "$(python3 - "$config" <<'PY'
import shlex, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
ev = c.get("env_vars") or []
if isinstance(ev, dict):
    ev = [{"key": k, "value": v} for k, v in ev.items()]
for e in ev:
    print("export %s=%s" % (e["key"], shlex.quote(str(e["value"]))))
print("LIST_CMD=%s" % shlex.quote(c["commands"]["list_metadata_files"]))
print("export OPEN_CMD=%s" % shlex.quote(c["commands"]["open_for_read"]))
PY
)"
bash -c "set -o nounset -o errexit -o pipefail; $LIST_CMD" >"$cache.list"
export CACHE=$cache
# shellcheck disable=SC2016 # expanded by the inner bash
xargs -P 8 -n 1 bash -c 'FILE_HANDLE="$0" bash -c "set -o nounset -o errexit -o pipefail; $OPEN_CMD" >"$CACHE/${0//\//_}"' <"$cache.list"
rm -f "$cache.list"
