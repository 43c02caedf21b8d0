#!/usr/bin/env bash
# glassbox run against runc, bubblewrap and unshare+chroot: the time to start a container
# that runs /bin/true on the same busybox rootfs, and what narration costs.
#   sudo bench/run.sh [RUNS]
# Each tool gets the same isolation where it can: mount, uts, ipc and pid namespaces (no
# network namespace), a pivot or chroot into the rootfs, proc/dev mounted; glassbox and runc
# also make a cgroup with limits. Prints the mean time per start and the ratios; targets:
# glassbox ≤ 1.2× bwrap, ≤ 0.25× runc, default narration ≤ 1.3× -q.
set -euo pipefail
runs=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (containers need it)" >&2; exit 1; }
for t in runc bwrap unshare busybox; do
  command -v "$t" >/dev/null || { echo "bench/run.sh: $t is missing (apt-get install runc bubblewrap busybox-static util-linux)" >&2; exit 1; }
done
(cd "$here" && cargo build --release -q)
gb="$here/target/release/glassbox"
work=$(mktemp -d /tmp/glassbox-bench-run.XXXXXX)
# As by default: the journal on a tmpfs (/run), images and containers on disk.
export GLASSBOX_STATE_DIR="/run/glassbox-bench-$$" GLASSBOX_DATA_DIR="$work/data"
trap 'rm -rf "$work" "$GLASSBOX_STATE_DIR"' EXIT
"$here/rootfs-scripts/busybox.sh" "$work/bundle/rootfs" >/dev/null
rootfs="$work/bundle/rootfs"
# runc's bundle: its default spec, running /bin/true without a terminal.
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = False
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 100}}
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open("config.json", "w"))
PY
)
"$gb" -q run --rm --network host busybox /bin/true   # fill glassbox's image cache once

# mean milliseconds of RUNS runs of the command
mean_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
  end=$(date +%s%N)
  echo $(( (end - start) / runs / 1000 ))   # microseconds
}
i=0
runc_run() { i=$((i+1)); runc run -b "$work/bundle" "gbbench$$-$i"; }
us_gb_q=$(mean_ms "$gb" -q run --rm --network host --memory 64m --pids-limit 100 busybox /bin/true)
us_gb=$(mean_ms "$gb" run --rm --network host --memory 64m --pids-limit 100 busybox /bin/true)
us_bwrap=$(mean_ms bwrap --unshare-all --share-net --bind "$rootfs" / --proc /proc --dev /dev /bin/true)
us_unshare=$(mean_ms unshare --mount --uts --ipc --pid --fork --mount-proc="$rootfs/proc" chroot "$rootfs" /bin/true)
us_runc=$(mean_ms runc_run)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%7.2f ms", a / 1000 }'; }
echo "start of a container running /bin/true, mean of $runs runs"
echo "  glassbox run -q          $(ms "$us_gb_q")"
echo "  glassbox run (narrated)  $(ms "$us_gb")   $(ratio "$us_gb" "$us_gb_q")x of -q   (target <= 1.3)"
echo "  bwrap --unshare-all      $(ms "$us_bwrap")   glassbox -q is $(ratio "$us_gb_q" "$us_bwrap")x   (target <= 1.2)"
echo "  runc run                 $(ms "$us_runc")   glassbox -q is $(ratio "$us_gb_q" "$us_runc")x   (target <= 0.25)"
echo "  unshare + chroot         $(ms "$us_unshare")   glassbox -q is $(ratio "$us_gb_q" "$us_unshare")x"
