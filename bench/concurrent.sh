#!/usr/bin/env bash
# N `glassbox -q run --rm busybox /bin/true` at once: every one must succeed, and the cost a
# container (the wall time of the whole batch divided by N) should not grow with N.
#   sudo bench/concurrent.sh [ROUNDS] [N…]   (default 3 rounds of N = 1 10 50)
#   GB=path/to/glassbox                       use that binary instead of building a release one
# The data directory is on the disk of the default one (/var/lib), the journal on /run, as
# by default. Each batch is started from one shell, all at once; the figure is the best
# round's. After each batch nothing may be left: no container, no journal entry, no mount.
set -euo pipefail
rounds=${1:-3}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 10 50)
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/concurrent.sh: run as root (containers need it)" >&2; exit 1; }
if [ -n "${GB:-}" ]; then
  gb=$GB
else
  (cd "$here" && cargo build --release -q)
  gb=$here/target/$(rustc --print host-tuple)/release/glassbox
fi
export GLASSBOX_DATA_DIR GLASSBOX_STATE_DIR
GLASSBOX_DATA_DIR=$(mktemp -d /var/lib/glassbox-bench.XXXXXX)
GLASSBOX_STATE_DIR="/run/glassbox-bench-$$"
logs=$(mktemp -d /tmp/glassbox-bench-conc.XXXXXX)
trap 'rm -rf "$GLASSBOX_DATA_DIR" "$GLASSBOX_STATE_DIR" "$logs"' EXIT
"$gb" -q run --rm busybox /bin/true # fills the image cache

echo "N concurrent \`glassbox -q run --rm busybox /bin/true\`: best of $rounds rounds (wall time of the batch)"
for n in "${sizes[@]}"; do
  best=
  for _ in $(seq "$rounds"); do
    t0=$(date +%s%N)
    pids=()
    for i in $(seq "$n"); do
      "$gb" -q run --rm busybox /bin/true >"$logs/$i" 2>&1 &
      pids+=($!)
    done
    failed=0
    for i in "${!pids[@]}"; do
      wait "${pids[$i]}" || { failed=$((failed + 1)); echo "run $((i + 1)) of $n failed:" >&2; cat "$logs/$((i + 1))" >&2; }
    done
    t1=$(date +%s%N)
    [ "$failed" = 0 ] || { echo "bench/concurrent.sh: $failed of $n runs failed" >&2; exit 1; }
    left=$(find "$GLASSBOX_DATA_DIR/containers" -mindepth 1 -maxdepth 1 | wc -l)
    entries=$(find "$GLASSBOX_STATE_DIR/journal" -name '*.json' | wc -l)
    mounts=$(grep -c "$GLASSBOX_DATA_DIR" /proc/self/mountinfo || true)
    [ "$left$entries$mounts" = 000 ] || { echo "bench/concurrent.sh: left behind: $left containers, $entries journal entries, $mounts mounts" >&2; exit 1; }
    us=$(((t1 - t0) / 1000))
    if [ -z "$best" ] || [ "$us" -lt "$best" ]; then best=$us; fi
  done
  [ "$n" = "${sizes[0]}" ] && one=$best
  awk -v n="$n" -v b="$best" -v one="$one" -v first="${sizes[0]}" 'BEGIN {
    printf "  N=%-4d batch %8.1f ms   per container %6.2f ms   (%.2fx of N=%d)\n", n, b / 1000, b / 1000 / n, (b / n) / (one / first), first }'
done
