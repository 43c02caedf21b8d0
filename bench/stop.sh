#!/usr/bin/env bash
# glassbox stop and rm -f: the time from the shell of `stop` of a container whose PID 1 exits
# on SIGTERM, and of `rm -f` of a running one (both wait with pidfd + poll, no sleeps), with
# the data on the disk the default data directory is on AND on a tmpfs.
#   sudo bench/stop.sh [RUNS]          (default 10 rounds)
#   GB=path/to/glassbox               use that binary instead of building a release one
#   GB_BEFORE=path/to/old/glassbox    also time an older binary, in the same rounds
# Each round starts the containers first (detached), then times each command once per
# binary and place, so a noisy neighbour hits all alike (the binaries take turns at going
# first: the first stop of a round was ~1 ms slower); figures are medians, the shell's
# fork+exec of glassbox included (the clock is the shell's own EPOCHREALTIME, bash >= 5).
# Target (issue 23): <= 5 ms each.
set -euo pipefail
[ "${BASH_VERSINFO[0]}" -ge 5 ] || { echo "bench/stop.sh: needs bash 5 or later (its clock, EPOCHREALTIME)" >&2; exit 1; }
runs=${1:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/stop.sh: run as root (containers need it)" >&2; exit 1; }
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
bins=("after|$gb")
[ -n "${GB_BEFORE:-}" ] && bins+=("before|$GB_BEFORE")
# "disk": beside the default data directory, the journal on /run as by default (on this VM
# /run is on the same ext4 disk); "tmpfs": data and journal on /dev/shm.
disk=$(mktemp -d /var/lib/glassbox-bench.XXXXXX)
runst=$(mktemp -d /run/glassbox-bench.XXXXXX)
shm=$(mktemp -d /dev/shm/glassbox-bench.XXXXXX)
place() { # place NAME: point glassbox at that place's data and journal
  case $1 in
    disk) export GLASSBOX_DATA_DIR=$disk GLASSBOX_STATE_DIR=$runst ;;
    tmpfs) export GLASSBOX_DATA_DIR=$shm GLASSBOX_STATE_DIR=$shm/state ;;
  esac
}
finish() {
  for p in disk tmpfs; do
    place $p
    # shellcheck disable=SC2046
    "$gb" -q rm -f $("$gb" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  done
  rm -rf "$disk" "$shm" "$runst" "$bins_dir"
}
trap finish EXIT
for p in disk tmpfs; do place $p; "$gb" -q run --rm busybox true; done # fill the image caches
# The clock in microseconds, read by the shell itself: `$(date +%s%N)` would add the start
# of a `date` process (~0.5-1.5 ms here) to every figure.
now_us() { REPLY=${EPOCHREALTIME//[!0-9]/}; }
declare -A times
for r in $(seq "$runs"); do
  for p in disk tmpfs; do
    place $p
    for b in "${bins[@]}"; do
      n=${b%%|*}; g=${b#*|}
      "$g" -q run -d --name "s$r$n" busybox sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null
      "$g" -q run -d --name "f$r$n" busybox sleep 1000 >/dev/null
    done
    sleep 0.3 # the trap is set
    order=("${bins[@]}")
    [ $((r % 2)) = 0 ] && [ ${#bins[@]} = 2 ] && order=("${bins[1]}" "${bins[0]}")
    for b in "${order[@]}"; do
      n=${b%%|*}; g=${b#*|}
      now_us; t0=$REPLY; "$g" -q stop "s$r$n" >/dev/null; now_us; t1=$REPLY
      times["stop $p $n"]+="$((t1 - t0)) "
      now_us; t0=$REPLY; "$g" -q rm -f "f$r$n" >/dev/null; now_us; t1=$REPLY
      times["rm -f $p $n"]+="$((t1 - t0)) "
      "$g" -q rm "s$r$n" >/dev/null
    done
  done
done
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "stop and rm -f: medians of $runs rounds (wall time from the shell), target <= 5 ms"
for k in "stop disk" "rm -f disk" "stop tmpfs" "rm -f tmpfs"; do
  for b in "${bins[@]}"; do
    n=${b%%|*}
    printf '  %-12s %-7s %8.2f ms\n' "$k" "$n" "$(awk -v u="$(median "${times[$k $n]}")" 'BEGIN { print u / 1000 }')"
  done
done
