#!/usr/bin/env bash
# What glassbox costs before its real work: page faults and CPU (perf stat's task-clock) of
# `--version`, `ps -a` and `-q run --rm busybox /bin/true`, data and state on a tmpfs.
#   sudo bench/startup.sh [RUNS]       (default 50 runs of each, per round)
#   GB=path/to/glassbox                use that binary instead of building a release one
#   GB_BEFORE=path/to/old/glassbox     also measure an older binary, in the same rounds
# Each round measures every binary on every command in turn (perf stat -r RUNS), so a noisy
# neighbour hits all alike; three rounds, and the figures printed are each one's best.
set -euo pipefail
runs=${1:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/startup.sh: run as root (run needs it)" >&2; exit 1; }
command -v perf >/dev/null || { echo "bench/startup.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
work=$(mktemp -d /dev/shm/glassbox-bench-startup.XXXXXX)
export GLASSBOX_DATA_DIR="$work/data" GLASSBOX_STATE_DIR="$work/state"
trap 'rm -rf "$work" "$bins_dir"' EXIT
"$gb" -q run --rm busybox /bin/true # fills the image cache once

bins=("after|$gb")
[ -n "${GB_BEFORE:-}" ] && bins+=("before|$GB_BEFORE")
cmds=("--version" "ps -a" "-q run --rm busybox /bin/true")
declare -A clock faults
for _ in 1 2 3; do
  for c in "${cmds[@]}"; do
    for b in "${bins[@]}"; do
      # shellcheck disable=SC2086
      out=$(perf stat -x, -r "$runs" -e task-clock,page-faults "${b#*|}" $c 2>&1 >/dev/null)
      ms=$(awk -F, '/task-clock/ { print $1 }' <<<"$out")
      pf=$(awk -F, '/page-faults/ { print $1 }' <<<"$out")
      k="${b%%|*}|$c"
      if [ -z "${clock[$k]:-}" ] || awk -v a="$ms" -v b="${clock[$k]}" 'BEGIN { exit !(a < b) }'; then
        clock[$k]=$ms
      fi
      faults[$k]=$pf
    done
  done
done
printf '%-34s %-7s %12s %12s\n' command binary "task-clock" "page faults"
for c in "${cmds[@]}"; do
  for b in "${bins[@]}"; do
    k="${b%%|*}|$c"
    printf '%-34s %-7s %9.2f ms %12.0f\n' "$c" "${b%%|*}" "${clock[$k]}" "${faults[$k]}"
  done
  if [ -n "${GB_BEFORE:-}" ]; then
    awk -v a="${clock[after|$c]}" -v b="${clock[before|$c]}" -v fa="${faults[after|$c]}" -v fb="${faults[before|$c]}" \
      'BEGIN { printf "%-34s after/before: task-clock %.2fx, faults %.2fx\n", "", a / b, fa / fb }'
  fi
done
