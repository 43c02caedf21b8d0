#!/bin/bash
# Benchmark: `glassbox export` against GNU `tar xf` and `tar xzf` on the same rootfs tarball.
#
#   bench/export.sh [RUNS]          (default 3 runs each; run as root so both keep owners)
#
# The tarball is made here, offline, from a copy of parts of this host's /usr (Python's
# standard library, Perl's, and the man pages: ~100-170 MB, tens of thousands of small files,
# symlinks and some large .so files — the shape of a distribution rootfs). Set BENCH_SRC to
# other directories (space-separated absolute paths) to change it, or BENCH_TAR to an existing
# rootfs tarball (e.g. one made with rootfs-scripts/debian.sh, then `tar cf`).
# Every run extracts into a fresh directory on the same filesystem; runs of the contenders
# alternate and the best of RUNS is kept for each (the page cache is warm for all alike). Targets: plain ≤ 1.0× tar xf; gzip
# faster than tar xzf.
set -euo pipefail
runs=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
# On a tmpfs by default: the disk of a shared machine is noisy (other jobs' writeback moves
# GNU tar alone between 0.9 s and 10 s here); the tmpfs measures the work each tool does.
# BENCH_DIR=/var/tmp (or any disk) to measure on a disk.
work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/gb-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GLASSBOX_STATE_DIR=$work/state
(cd "$here" && cargo build --release --quiet)
gb=$here/target/release/glassbox

if [ -n "${BENCH_TAR:-}" ]; then
  cp "$BENCH_TAR" "$work/root.tar"
else
  src=${BENCH_SRC:-"/usr/lib/python3.11 /usr/share/perl /usr/share/man"}
  # shellcheck disable=SC2086
  tar cf "$work/root.tar" -C / $(for d in $src; do echo "${d#/}"; done)
fi
gzip -6 -c "$work/root.tar" > "$work/root.tar.gz"
files=$(tar tf "$work/root.tar" | wc -l)
echo "tarball: $(du -m "$work/root.tar" | cut -f1) MB, $files entries; gzip: $(du -m "$work/root.tar.gz" | cut -f1) MB"

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

t_tar=999 t_gb=999 t_targz=999 t_gbgz=999
for _ in $(seq "$runs"); do
  t_tar=$(min "$t_tar" "$(once tarx "$work/root.tar")")
  t_gb=$(min "$t_gb" "$(once "$gb" -q export "$work/root.tar" "$work/out")")
  t_targz=$(min "$t_targz" "$(once tarxz "$work/root.tar.gz")")
  t_gbgz=$(min "$t_gbgz" "$(once "$gb" -q export "$work/root.tar.gz" "$work/out")")
done
rm -rf "$work/out"

printf '%-28s %8.3f s\n' "tar xf" "$t_tar" "glassbox export (plain)" "$t_gb" \
  "tar xzf" "$t_targz" "glassbox export (gzip)" "$t_gbgz"
printf 'ratio plain: %.2fx tar xf   (target <= 1.00)\n' "$(echo "$t_gb / $t_tar" | bc -l)"
printf 'ratio gzip:  %.2fx tar xzf  (target <  1.00)\n' "$(echo "$t_gbgz / $t_targz" | bc -l)"
