#!/bin/sh
# Bridge networking's cost, two glassbox binaries side by side in rotating blocks, so that the
# load of a shared machine weighs on both alike (bench/net.sh measures each case in one block).
#
#   sudo bench/net-ab.sh ROUNDS BLOCK BEFORE AFTER     (e.g. 30 10: 300 runs of each case)
#
# Each round runs BLOCK runs of: BEFORE --network none, BEFORE bridge, AFTER none, AFTER
# bridge (`glassbox -q net … -- date +%s%N`, back to back as in bench/net.sh), inside a
# throwaway network namespace with its own state directory. Prints, for each binary, the mean
# start and total of none and bridge, and what the bridge adds.
set -eu
if [ "${GB_BENCH_INSIDE:-}" != 1 ]; then
  exec env GB_BENCH_INSIDE=1 unshare --net -- sh "$0" "$@"
fi
R=$1; B=$2; OLD=$3; NEW=$4
ip link set lo up
STATE=$(mktemp -d); export GLASSBOX_STATE_DIR=$STATE
trap '"$NEW" -q cleanup >/dev/null 2>&1; rm -rf "$STATE"' EXIT
"$NEW" -q net -- true >/dev/null # make the bridge
now() { date +%s%N; }
block() { # BINARY MODE: adds this block's start and total (ns) to S_<key> and T_<key>
  i=0
  while [ $i -lt "$B" ]; do
    s=$(now); ran=$("$1" -q net --network "$2" -- date +%s%N); e=$(now)
    eval "S_$3=\$((S_$3 + ran - s)); T_$3=\$((T_$3 + e - s))"
    i=$((i+1))
  done
}
S_on=0 T_on=0 S_ob=0 T_ob=0 S_nn=0 T_nn=0 S_nb=0 T_nb=0
r=0
while [ $r -lt "$R" ]; do
  block "$OLD" none on; block "$OLD" bridge ob; block "$NEW" none nn; block "$NEW" bridge nb
  r=$((r+1))
done
awk -v n=$((R * B)) -v son=$S_on -v ton=$T_on -v sob=$S_ob -v tob=$T_ob \
    -v snn=$S_nn -v tnn=$T_nn -v snb=$S_nb -v tnb=$T_nb 'BEGIN {
  f = "%-7s none start %6.2f total %6.2f ms   bridge start %6.2f total %6.2f ms   adds start %5.2f total %5.2f ms\n"
  printf f, "before", son/n/1e6, ton/n/1e6, sob/n/1e6, tob/n/1e6, (sob-son)/n/1e6, (tob-ton)/n/1e6
  printf f, "after", snn/n/1e6, tnn/n/1e6, snb/n/1e6, tnb/n/1e6, (snb-snn)/n/1e6, (tnb-tnn)/n/1e6
}'
