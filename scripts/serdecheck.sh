#!/usr/bin/env bash
# Builds tools/serdecheck, the serde_json reference checker for metactl's line
# codec, offline from Debian's packaged Rust crate sources.
#
#   scripts/serdecheck.sh      -> last line of stdout: path of the binary
#
# Idempotent: installs the Debian crate sources only when they are missing,
# and cargo rebuilds only what changed. If the checker cannot be built on this
# machine (no cargo; or no crate sources and no way to install them) it prints
# one line "serdecheck: ..., skipping" and exits 0 without a binary; the Go
# test turns that into t.Skip. A failing install or build exits non-zero.
#
# Needs: cargo + rustc (rustup's are fine), and the Debian packages
# librust-serde-json-dev and librust-serde-derive-dev (Debian 12 bookworm:
# serde_json 1.0.87, serde/serde_derive 1.0.152), which put crate sources in
# /usr/share/cargo/registry. tools/serdecheck/.cargo/config.toml points
# crates.io at that directory; crates.io itself is never contacted.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tools/serdecheck"
registry=/usr/share/cargo/registry
packages=(librust-serde-json-dev librust-serde-derive-dev)

say() { echo "serdecheck: $*" >&2; }
skip() { echo "serdecheck: $*, skipping"; exit 0; }

# cargo: PATH first, then rustup's default place.
if ! command -v cargo >/dev/null 2>&1; then
	for d in "${CARGO_HOME:-}" "$HOME/.cargo"; do
		if [ -n "$d" ] && [ -x "$d/bin/cargo" ]; then
			PATH="$d/bin:$PATH"
			break
		fi
	done
fi
command -v cargo >/dev/null 2>&1 || skip "cargo not found"

have_sources() {
	compgen -G "$registry/serde_json-1.*" >/dev/null &&
		compgen -G "$registry/serde_derive-1.*" >/dev/null
}

if ! have_sources; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		skip "no serde_json sources in $registry and cannot install ${packages[*]} (needs root and apt-get)"
	fi
	say "installing ${packages[*]}"
	log="$(mktemp)"
	trap 'rm -f "$log"' EXIT
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get -o DPkg::Lock::Timeout=300 update -q && apt-get -o DPkg::Lock::Timeout=300 install -y -q "${packages[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		say "apt-get failed"
		exit 1
	fi
	have_sources || { say "install finished but $registry still lacks serde_json/serde_derive"; exit 1; }
fi

export CARGO_TARGET_DIR="$dir/target"
(cd "$dir" && cargo build --release --offline --quiet >&2)
bin="$CARGO_TARGET_DIR/release/serdecheck"
[ -x "$bin" ] || { say "build finished but $bin is missing"; exit 1; }
echo "$bin"
