#!/bin/sh
# What bridge networking adds to a container's start, glassbox next to ip/iptables by hand.
#
#   sudo bench/net.sh [N]        (N runs of each case, default 50; needs root, ip, busybox)
#
# Runs entirely inside a throwaway network namespace (it re-executes itself under
# `unshare --net`), with its own GLASSBOX_STATE_DIR, so the machine's links and rules are
# never touched. The command is `date +%s%N`, so each run gives two figures (means over N):
#   start   from launching to the moment the command runs (what a container's start costs)
#   total   from launching to the end, teardown included
# for four cases:
#   gb_none      glassbox net --network none -- CMD   (namespace only, the baseline)
#   gb_bridge    glassbox net -- CMD                  (bridge gb0 already made)
#   hand_none    unshare --net CMD
#   hand_bridge  the same plus veth/address/route made with ip, and the veth deleted after
# "adds" is bridge minus none: the cost of the wiring itself (target: <= 5 ms, start and total).
# Most of the by-hand teardown is the kernel deleting a veth (RTM_DELLINK waits for RCU grace
# periods, 15-40 ms here); glassbox does not wait for it: the kernel removes the host end with
# the container's namespace, and a watcher glassbox leaves behind hears when.
#   GB_BEFORE=path/to/older/glassbox   also measures that binary's two cases, in the same run.
set -eu
N=${1:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
GB=${GB:-$HERE/target/$(rustc --print host-tuple)/release/glassbox}
[ -x "$GB" ] || GB=$HERE/target/$(rustc --print host-tuple)/debug/glassbox
if [ "${GB_BENCH_INSIDE:-}" != 1 ]; then
  exec env GB_BENCH_INSIDE=1 GB="$GB" GB_BEFORE="${GB_BEFORE:-}" unshare --net -- sh "$0" "$N"
fi
ip link set lo up
STATE=$(mktemp -d); export GLASSBOX_STATE_DIR=$STATE
trap '"$GB" -q cleanup >/dev/null 2>&1; rm -rf "$STATE"' EXIT

now() { date +%s%N; }
mean_ms() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.2f", t / n / 1e6 }'; }
bench() { # NAME COMMAND... (the command ends with the date command to run)
  name=$1; shift
  "$@" >/dev/null 2>&1 # warm up (and make the bridge)
  st=0; tot=0; i=0
  while [ $i -lt "$N" ]; do
    s=$(now); ran=$("$@" 2>/dev/null); e=$(now)
    st=$((st + ran - s)); tot=$((tot + e - s)); i=$((i+1))
  done
  eval "S_$name=$st; T_$name=$tot"
  printf '%-12s start %7s ms   total %7s ms\n' "$name" "$(mean_ms $st)" "$(mean_ms $tot)"
}

by_hand_none() {
  unshare --net "$@"
}
by_hand_bridge() {
  # The namespace waits on a fifo while the host end is wired, as glassbox's child waits.
  f=$STATE/fifo; rm -f "$f"; mkfifo "$f"
  unshare --net sh -c "read _ < $f; exec $*" & p=$!
  # unshare(1) is in its own namespace once its ns/net link differs from ours.
  while [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do :; done
  ip link add "bh$p" type veth peer name eth0 netns "$p"
  ip link set "bh$p" master gb1 up
  nsenter --net --target "$p" sh -c 'ip link set lo up; ip addr add 10.66.0.2/24 dev eth0; ip link set eth0 up; ip route add default via 10.66.0.1'
  echo go > "$f"; wait "$p"
  ip link del "bh$p" 2>/dev/null || true
}
# The by-hand bridge, made once as glassbox makes gb0 once.
ip link add gb1 type bridge; ip addr add 10.66.0.1/24 dev gb1; ip link set gb1 up
iptables -w -t nat -A POSTROUTING -s 10.66.0.0/24 ! -o gb1 -j MASQUERADE

echo "runs per case: $N   glassbox: $GB"
bench gb_none "$GB" -q net --network none -- date +%s%N
bench gb_bridge "$GB" -q net -- date +%s%N
if [ -n "${GB_BEFORE:-}" ]; then
  bench old_none "$GB_BEFORE" -q net --network none -- date +%s%N
  bench old_bridge "$GB_BEFORE" -q net -- date +%s%N
fi
bench hand_none by_hand_none date +%s%N
bench hand_bridge by_hand_bridge date +%s%N
echo "glassbox bridge adds: start $(mean_ms $((S_gb_bridge - S_gb_none))) ms (target <= 5 ms), total $(mean_ms $((T_gb_bridge - T_gb_none))) ms"
[ -z "${GB_BEFORE:-}" ] || echo "GB_BEFORE bridge adds:  start $(mean_ms $((S_old_bridge - S_old_none))) ms, total $(mean_ms $((T_old_bridge - T_old_none))) ms"
echo "by hand bridge adds:  start $(mean_ms $((S_hand_bridge - S_hand_none))) ms, total $(mean_ms $((T_hand_bridge - T_hand_none))) ms"
