#!/usr/bin/env bash
# podman --runtime glassbox against runc and crun: the time of
# `podman run --rm IMAGE true` with each runtime, same image, same podman, paired rounds
# (each round runs every runtime once, in turn), medians.
#   sudo bench/podman.sh [RUNS]        (default 20 rounds)
#   GB=path/to/glassbox                use that binary instead of building a release one
# crun refuses a hybrid cgroup host (v1 controllers and an empty v2 at
# /sys/fs/cgroup/unified); its rounds run in a private mount namespace with that v2 mount
# unmounted, so crun sees plain cgroup v1. Target (issue 22): glassbox <= crun.
set -euo pipefail
runs=${1:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/podman.sh: run as root" >&2; exit 1; }
for t in podman runc python3; do
  command -v "$t" >/dev/null || { echo "bench/podman.sh: $t is missing (apt-get install podman conmon runc crun python3)" >&2; exit 1; }
done
if [ -n "${GB:-}" ]; then
  gb=$GB
else
  (cd "$here" && cargo build --release -q)
  gb=$here/target/$(rustc --print host-tuple)/release/glassbox
fi
work=$(mktemp -d /tmp/glassbox-bench-podman.XXXXXX)
P=(podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp"
   --cgroup-manager cgroupfs --events-backend file --storage-driver vfs)
cleanup() {
  "${P[@]}" rm -a -f >/dev/null 2>&1 || true
  "${P[@]}" rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# The image: busybox as glassbox exports it, saved by glassbox, loaded by podman.
export GLASSBOX_DATA_DIR="$work/data"
"$gb" -q export busybox "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$gb" -q import "$work/rootfs.tar" gb-bench:v1 >/dev/null
"$gb" -q save gb-bench:v1 -o "$work/image.tar"
"${P[@]}" load -q -i "$work/image.tar" >/dev/null
ln -s "$gb" "$work/glassbox-runc"
args=(run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/gb-bench:v1 true)
runtimes=(glassbox runc)
crun_ok=
if command -v crun >/dev/null &&
   unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh \
     "${P[@]}" --runtime "$(command -v crun)" "${args[@]}" >/dev/null 2>&1; then
  crun_ok=1; runtimes+=(crun)
fi
one() {
  case $1 in
    glassbox) "${P[@]}" --runtime "$work/glassbox-runc" "${args[@]}" ;;
    runc) "${P[@]}" --runtime "$(command -v runc)" "${args[@]}" ;;
    crun) unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh \
            "${P[@]}" --runtime "$(command -v crun)" "${args[@]}" ;;
  esac
}
for r in "${runtimes[@]}"; do one "$r" >/dev/null; done   # warm up
for i in $(seq "$runs"); do
  for r in "${runtimes[@]}"; do
    s=$(date +%s.%N); one "$r" >/dev/null; e=$(date +%s.%N)
    echo "$r $(echo "$e - $s" | bc)" >> "$work/times"
  done
done
python3 - "$work/times" "${crun_ok:-}" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    r, s = line.split(); t.setdefault(r, []).append(float(s))
med = {r: statistics.median(v) for r, v in t.items()}
for r in t:
    extra = "".join(f"   {med[r]/med[o]:.2f}x {o}" for o in med if o != r and r == "glassbox")
    print(f"podman --runtime {r:<9} {med[r]:.3f} s{extra}")
if not sys.argv[2]:
    print("crun: not run (missing, or it refused this host's cgroups)")
PY
