#!/usr/bin/env bash
# `glassbox ps -a` and `inspect` with many containers: makes N containers with `glassbox
# create` (real records, config.json and state, as N creates leave them; nothing written by
# hand) in a temporary data directory, then times `ps -a`, `ps -aq` and `inspect`.
#   sudo bench/ps.sh [N] [RUNS]      (default 1000 containers, best of 10 runs)
#   GB=path/to/glassbox              use that binary instead of building a release one
#   GB_BEFORE=path/to/old/glassbox   also time an older binary, in the same runs
# Target: ps -a with 1,000 containers <= 20 ms.
set -euo pipefail
[ "${BASH_VERSINFO[0]}" -ge 5 ] || { echo "bench/ps.sh: needs bash 5 or later (its clock, EPOCHREALTIME)" >&2; exit 1; }
n=${1:-1000}
runs=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/ps.sh: run as root (run needs it)" >&2; exit 1; }
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
work=$(mktemp -d /tmp/glassbox-bench-ps.XXXXXX)
export GLASSBOX_STATE_DIR="$work/state" GLASSBOX_DATA_DIR="$work/data"
trap 'rm -rf "$work" "$bins_dir"' EXIT
t0=$(date +%s)
for i in $(seq "$n"); do
  "$gb" -q create --name "bench-$i" busybox true >/dev/null
done
echo "made $n containers with glassbox create in $(( $(date +%s) - t0 )) s"
[ "$("$gb" ps -aq | wc -l)" = "$n" ] || { echo "bench/ps.sh: ps -aq does not list $n containers" >&2; exit 1; }

best_ms() { # best wall time of RUNS runs of CMD..., stdout to a pipe as a terminal pager would read it
  # The shell's own clock in microseconds: $(date) would add a process start to each.
  local best=999999999 t0 t1
  for _ in $(seq "$runs"); do
    t0=${EPOCHREALTIME//[!0-9]/}; "$@" | cat >/dev/null; t1=${EPOCHREALTIME//[!0-9]/}
    [ $((t1 - t0)) -lt "$best" ] && best=$((t1 - t0))
  done
  awk -v us="$best" 'BEGIN { printf "%.2f", us / 1e3 }'
}
echo "glassbox ps and inspect with $n created containers, best of $runs runs"
a=$(best_ms "$gb" ps -a); q=$(best_ms "$gb" ps -aq)
i1=$(best_ms "$gb" inspect "bench-$n"); ia=$(best_ms "$gb" inspect -f '{{.State.Status}}' $("$gb" ps -aq))
printf '  %-24s %8s ms   (target <= 20)\n' "ps -a" "$a"
printf '  %-24s %8s ms\n' "ps -aq" "$q" "inspect one" "$i1" "inspect -f, all $n" "$ia"
if [ -n "${GB_BEFORE:-}" ]; then
  ba=$(best_ms "$GB_BEFORE" ps -a); bq=$(best_ms "$GB_BEFORE" ps -aq)
  printf '  %-24s %8s ms   after/before %.2fx\n' "before: ps -a" "$ba" "$(awk -v a="$a" -v b="$ba" 'BEGIN { print a / b }')" \
    "before: ps -aq" "$bq" "$(awk -v a="$q" -v b="$bq" 'BEGIN { print a / b }')"
fi
