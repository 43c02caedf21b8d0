#!/usr/bin/env bash
# glassbox run against bwrap, runc, crun and unshare+chroot: the time to start (and end) a
# container that runs /bin/true on the same busybox rootfs, and what narration costs —
# with glassbox's data on the disk its default data directory is on AND on a tmpfs.
#   sudo bench/run.sh [RUNS]          (default 30 rounds)
#   GB=path/to/glassbox               use that binary instead of building a release one
#   GB_BEFORE=path/to/old/glassbox    also time an older binary, in the same rounds
# The command is the issue's: `glassbox -q run --rm busybox /bin/true` (every namespace, the
# network one empty; pivot_root; proc/sys/dev/tmp; masked paths; seccomp). bwrap gets
# --unshare-all, runc and crun their default spec (every namespace), unshare every namespace
# and a chroot. Runs are paired: each round runs every contender once, in turn (in an order
# shuffled anew each round), so a noisy neighbour hits all alike; the figures are
# medians. Targets: glassbox -q <= 1.2x bwrap on the disk and on tmpfs, <= 0.8x crun,
# default narration <= 1.3x -q.
set -euo pipefail
[ "${BASH_VERSINFO[0]}" -ge 5 ] || { echo "bench/run.sh: needs bash 5 or later (its clock, EPOCHREALTIME)" >&2; exit 1; }
runs=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (containers need it)" >&2; exit 1; }
for t in runc bwrap unshare busybox python3; do
  command -v "$t" >/dev/null || { echo "bench/run.sh: $t is missing (apt-get install runc bubblewrap busybox-static util-linux python3)" >&2; exit 1; }
done
# shellcheck source=bench/binaries.sh
. "$here/bench/binaries.sh"
bench_binaries "$here"
work=$(mktemp -d /tmp/glassbox-bench-run.XXXXXX)
# "disk": where the default data directory (/var/lib/glassbox) lives, in a directory of its
# own beside it; "tmpfs": /dev/shm. The journal (state) stays on /run, as by default.
disk=$(mktemp -d /var/lib/glassbox-bench.XXXXXX)
shm=$(mktemp -d /dev/shm/glassbox-bench.XXXXXX)
export GLASSBOX_STATE_DIR="/run/glassbox-bench-$$"
trap 'rm -rf "$work" "$disk" "$shm" "$GLASSBOX_STATE_DIR" "$bins_dir"' EXIT
"$here/rootfs-scripts/busybox.sh" "$work/bundle/rootfs" >/dev/null
rootfs="$work/bundle/rootfs"
# runc's (and crun's) bundle: its default spec, running /bin/true without a terminal.
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = False
json.dump(c, open("config.json", "w"))
PY
)
# Fill each data directory's image cache once.
GLASSBOX_DATA_DIR="$disk" "$gb" -q run --rm busybox /bin/true
GLASSBOX_DATA_DIR="$shm" "$gb" -q run --rm busybox /bin/true

i=0
gb_disk() { GLASSBOX_DATA_DIR="$disk" "$@" run --rm busybox /bin/true; }
gb_shm() { GLASSBOX_DATA_DIR="$shm" "$@" run --rm busybox /bin/true; }
oci() { i=$((i + 1)); "$1" run -b "$work/bundle" "gbbench$$-$i"; }
# name|command: the contenders, in the order each round runs them
contenders=(
  "glassbox -q (disk)|gb_disk $gb -q"
  "glassbox narrated (disk)|gb_disk $gb"
  "glassbox -q (tmpfs)|gb_shm $gb -q"
  "glassbox narrated (tmpfs)|gb_shm $gb"
  "bwrap --unshare-all|bwrap --unshare-all --bind $rootfs / --proc /proc --dev /dev /bin/true"
  "unshare + chroot|unshare --mount --uts --ipc --net --pid --cgroup --fork --mount-proc=$rootfs/proc chroot $rootfs /bin/true"
  "runc run|oci runc"
)
# crun refuses this hybrid host's cgroups (v1 controllers and a cgroup2 at
# /sys/fs/cgroup/unified holding hugetlb): its rounds run in a private mount namespace with
# that cgroup2 unmounted, so crun sees plain cgroup v1 (as bench/podman.sh does). The
# unshare and umount are in its time (~1 ms): the ratio to crun is slightly generous.
crun_v1() { i=$((i + 1)); unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh crun run -b "$work/bundle" "gbbench$$-$i"; }
if ! command -v crun >/dev/null; then
  echo "crun: not installed (apt-get install crun): left out"
elif why=$(oci crun 2>&1); then
  contenders+=("crun run|oci crun")
elif why=$(crun_v1 2>&1); then
  contenders+=("crun run|crun_v1")
else
  echo "crun: cannot run here ($why): left out"
fi
if [ -n "${GB_BEFORE:-}" ]; then
  contenders+=("before: -q (disk)|gb_disk $GB_BEFORE -q" "before: -q (tmpfs)|gb_shm $GB_BEFORE -q")
fi

# The clock in microseconds, read by the shell itself (bash >= 5): `$(date +%s%N)` would add
# the start of a `date` process (~0.5-1.5 ms here) to every figure, and flatter the ratios.
now_us() { REPLY=${EPOCHREALTIME//[!0-9]/}; }
declare -A times
# A run pays for what the one before it left the kernel to do in the background (the last
# namespace's teardown, a runtime's deleted state): each round runs the contenders in an
# order shuffled anew, so that every contender follows every other alike. (Rotating one
# fixed order would not: each would follow the same one in every round but the first.)
count=${#contenders[@]}
for round in $(seq "$runs"); do
  order=($(seq 0 $((count - 1))))
  for ((k = count - 1; k > 0; k--)); do
    j=$((RANDOM % (k + 1)))
    t=${order[k]}; order[k]=${order[j]}; order[j]=$t
  done
  for k in "${order[@]}"; do
    c=${contenders[$k]}
    now_us; t0=$REPLY
    # shellcheck disable=SC2086
    ${c#*|} >/dev/null 2>&1 || { echo "bench/run.sh: failed: ${c#*|}" >&2; exit 1; }
    now_us; t1=$REPLY
    times[${c%%|*}]+="$((t1 - t0)) "
  done
done
declare -A med
for c in "${contenders[@]}"; do
  n=${c%%|*}
  # shellcheck disable=SC2086
  med[$n]=$(printf '%s\n' ${times[$n]} | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
done
ratio() { awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN { printf "%.2fx", a / b }'; }

echo "start and end of a container running /bin/true: medians of $runs paired rounds (wall time from the shell's own clock, fork+exec included)"
for c in "${contenders[@]}"; do
  printf '  %-28s %8.2f ms\n' "${c%%|*}" "$(awk -v u="${med[${c%%|*}]}" 'BEGIN { print u / 1000 }')"
done
echo "ratios"
for where in disk tmpfs; do
  printf '  %-5s glassbox -q / bwrap     %s   (target <= 1.2)\n' "$where" "$(ratio "glassbox -q ($where)" "bwrap --unshare-all")"
  printf '  %-5s glassbox -q / runc      %s\n' "$where" "$(ratio "glassbox -q ($where)" "runc run")"
  if [ -n "${med[crun run]:-}" ]; then
    printf '  %-5s glassbox -q / crun      %s   (target <= 0.8)\n' "$where" "$(ratio "glassbox -q ($where)" "crun run")"
  fi
  printf '  %-5s glassbox -q / unshare   %s\n' "$where" "$(ratio "glassbox -q ($where)" "unshare + chroot")"
  printf '  %-5s narrated / -q           %s   (target <= 1.3)\n' "$where" "$(ratio "glassbox narrated ($where)" "glassbox -q ($where)")"
  if [ -n "${GB_BEFORE:-}" ]; then
    printf '  %-5s -q after / before       %s\n' "$where" "$(ratio "glassbox -q ($where)" "before: -q ($where)")"
  fi
done
printf '  disk / tmpfs, glassbox -q   %s   (what keeping the data on this disk costs)\n' "$(ratio "glassbox -q (disk)" "glassbox -q (tmpfs)")"
