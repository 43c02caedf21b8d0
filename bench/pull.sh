#!/bin/bash
# Benchmark: `glassbox pull` against `skopeo copy docker://… oci:…` from the same local
# registry (Debian's docker-registry on 127.0.0.1, started here on a free port, stopped after).
#
#   bench/pull.sh [RUNS]            (default 3 runs each; run as root)
#   GB=path/to/glassbox             use that binary instead of building a release one
#   GB_BEFORE=path/to/glassbox      also time an older binary in the same rounds
#
# The image is made here, offline, with umoci: three layers cut from this host's /usr (Python's
# standard library, Perl's, and the man pages by default: ~150 MB; BENCH_SRC changes them),
# pushed gzip-compressed with skopeo. Every run starts from an empty store (glassbox) or an
# empty directory (skopeo), so each downloads and checks every blob. glassbox pull, as skopeo
# copy, does only that (the layers are unpacked on first use); `glassbox pull --unpack` also
# unpacks each layer, as does the by-hand pull that ends with a usable tree, skopeo copy then
# `umoci unpack`. The best of RUNS is kept for each.
# Target: glassbox pull ≤ 1.0× skopeo copy.
set -euo pipefail
runs=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/gb-bench-pull.XXXXXX")
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work" ${bins_dir:+"$bins_dir"}; }
trap cleanup EXIT
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
for t in skopeo umoci /usr/bin/docker-registry; do
  command -v "$t" >/dev/null || { echo "bench/pull.sh: $t is missing (.ci/run installs it)" >&2; exit 1; }
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
/usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

# The image: one layer per source directory.
umoci init --layout "$work/oci" && umoci new --image "$work/oci:1"
for d in ${BENCH_SRC:-/usr/lib/python3.11 /usr/share/perl /usr/share/man}; do
  umoci unpack --image "$work/oci:1" "$work/b" >/dev/null
  mkdir -p "$work/b/rootfs$(dirname "$d")" && cp -a "$d" "$work/b/rootfs$d"
  umoci repack --image "$work/oci:1" "$work/b" && rm -rf "$work/b"
done
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:1" "docker://127.0.0.1:$port/bench:1"
echo "image: $(du -sh "$work/registry" | cut -f1) in the registry"

best() { sort -n | head -1; }
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
copy_and_unpack() {
  skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/bench:1" "oci:$work/both:1" &&
    umoci unpack --image "$work/both:1" "$work/both.bundle"
}
gbt=(); skt=(); sut=(); bft=(); gut=()
for i in $(seq "$runs"); do
  rm -rf "$work/state" "$work/skopeo" "$work/both" "$work/both.bundle"
  gbt+=("$(GLASSBOX_STATE_DIR=$work/state time_it "$gb" -q pull "127.0.0.1:$port/bench:1")")
  rm -rf "$work/state"
  gut+=("$(GLASSBOX_STATE_DIR=$work/state time_it "$gb" -q pull --unpack "127.0.0.1:$port/bench:1")")
  if [ -n "${GB_BEFORE:-}" ]; then
    rm -rf "$work/state"
    bft+=("$(GLASSBOX_STATE_DIR=$work/state time_it "$GB_BEFORE" -q pull "127.0.0.1:$port/bench:1")")
  fi
  skt+=("$(time_it skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port/bench:1" "oci:$work/skopeo:1")")
  sut+=("$(time_it copy_and_unpack)")
done
g=$(printf '%s\n' "${gbt[@]}" | best); s=$(printf '%s\n' "${skt[@]}" | best); u=$(printf '%s\n' "${sut[@]}" | best)
printf 'glassbox pull               %6.2f s  (runs: %s)\n' "$g" "${gbt[*]}"
printf 'skopeo copy                 %6.2f s  (runs: %s)\n' "$s" "${skt[*]}"
v=$(printf '%s\n' "${gut[@]}" | best)
printf 'glassbox pull --unpack      %6.2f s  (runs: %s)\n' "$v" "${gut[*]}"
printf 'skopeo copy + umoci unpack  %6.2f s  (runs: %s)\n' "$u" "${sut[*]}"
printf 'glassbox / skopeo copy      %6.2f×  (target ≤ 1.0×)\n' "$(echo "$g / $s" | bc -l)"
printf 'glassbox --unpack / copy + unpack  %6.2f×\n' "$(echo "$v / $u" | bc -l)"
if [ -n "${GB_BEFORE:-}" ]; then
  b=$(printf '%s\n' "${bft[@]}" | best)
  printf 'glassbox before             %6.2f s  (runs: %s)\n' "$b" "${bft[*]}"
  printf 'after / before              %6.2f×\n' "$(echo "$g / $b" | bc -l)"
fi
