#!/bin/bash
# Benchmark: `glassbox unpack` against GNU `tar xf`, `tar xzf` and `tar --zstd -xf` on the
# same rootfs tarball.
#
#   bench/export.sh [RUNS]          (default 3 runs each; run as root so both keep owners)
#   GB=path/to/glassbox             use that binary instead of building a release one
#   GB_BEFORE=path/to/old/glassbox  also time an older binary, in the same runs (before/after)
#
# The tarball is made here, offline, from a copy of parts of this host's /usr (Python's
# standard library, Perl's, and the man pages: ~100-170 MB, tens of thousands of small files,
# symlinks and some large .so files — the shape of a distribution rootfs). Set BENCH_SRC to
# other directories (space-separated absolute paths) to change it, or BENCH_TAR to an existing
# rootfs tarball (e.g. one made with rootfs-scripts/debian.sh, then `tar cf`).
# Every run extracts into a fresh directory on the same filesystem; runs of the contenders
# alternate and the best of RUNS is kept for each (the page cache is warm for all alike).
# Targets: plain ≤ 1.0× tar xf; zstd ≤ 1.0× tar --zstd -xf; gzip faster than tar xzf.
set -euo pipefail
runs=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
# On a tmpfs by default: the disk of a shared machine is noisy (other jobs' writeback moves
# GNU tar alone between 0.9 s and 10 s here); the tmpfs measures the work each tool does.
# BENCH_DIR=/var/tmp (or any disk) to measure on a disk.
work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/gb-bench.XXXXXX")
trap 'rm -rf "$work" ${bins_dir:+"$bins_dir"}' EXIT
export GLASSBOX_STATE_DIR=$work/state
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
command -v zstd >/dev/null || { echo "bench/export.sh: zstd is missing (apt-get install zstd)" >&2; exit 1; }

if [ -n "${BENCH_TAR:-}" ]; then
  cp "$BENCH_TAR" "$work/root.tar"
else
  src=${BENCH_SRC:-"/usr/lib/python3.11 /usr/share/perl /usr/share/man"}
  # shellcheck disable=SC2086
  tar cf "$work/root.tar" -C / $(for d in $src; do echo "${d#/}"; done)
fi
gzip -6 -c "$work/root.tar" > "$work/root.tar.gz"
zstd -q -3 -c "$work/root.tar" > "$work/root.tar.zst"
files=$(tar tf "$work/root.tar" | wc -l)
echo "tarball: $(du -m "$work/root.tar" | cut -f1) MB, $files entries; gzip: $(du -m "$work/root.tar.gz" | cut -f1) MB; zstd: $(du -m "$work/root.tar.zst" | cut -f1) MB"

once() { # wall time in seconds of: CMD... (in a fresh $work/out)
  local t0 t1
  rm -rf "$work/out" "$work/out.config.json"
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
min() { echo "if ($1 < $2) $1 else $2" | bc; }
tarx() { mkdir "$work/out" && tar xf "$1" -C "$work/out"; }
tarxz() { mkdir "$work/out" && tar xzf "$1" -C "$work/out"; }
tarxzst() { mkdir "$work/out" && tar --zstd -xf "$1" -C "$work/out"; }

# best time of each contender, by name; runs alternate between them
declare -A best
contenders=("tar xf|tarx $work/root.tar" "tar xzf|tarxz $work/root.tar.gz"
  "tar --zstd -xf|tarxzst $work/root.tar.zst")
for kind in plain:tar gzip:tar.gz zstd:tar.zst; do
  contenders+=("glassbox unpack (${kind%%:*})|$gb -q unpack $work/root.${kind#*:} $work/out")
  [ -n "${GB_BEFORE:-}" ] && contenders+=("before: export (${kind%%:*})|$GB_BEFORE -q unpack $work/root.${kind#*:} $work/out")
done
for _ in $(seq "$runs"); do
  for c in "${contenders[@]}"; do
    name=${c%%|*}
    # shellcheck disable=SC2086
    t=$(once ${c#*|})
    best[$name]=$(min "${best[$name]:-999}" "$t")
  done
done
rm -rf "$work/out"

for c in "${contenders[@]}"; do printf '%-28s %8.3f s\n' "${c%%|*}" "${best[${c%%|*}]}"; done
ratio() { printf '%-34s %.2fx %s\n' "$1" "$(echo "${best[$2]} / ${best[$3]}" | bc -l)" "$4"; }
ratio "plain: export / tar xf" "glassbox unpack (plain)" "tar xf" "(target <= 1.00)"
ratio "gzip:  export / tar xzf" "glassbox unpack (gzip)" "tar xzf" "(target <  1.00)"
ratio "zstd:  export / tar --zstd -xf" "glassbox unpack (zstd)" "tar --zstd -xf" "(target <= 1.00)"
if [ -n "${GB_BEFORE:-}" ]; then
  for k in plain gzip zstd; do
    ratio "$k:  after / before" "glassbox unpack ($k)" "before: export ($k)" ""
  done
fi
