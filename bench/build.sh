#!/bin/bash
# Benchmark: `glassbox build` against `buildah bud` (Debian's buildah) on the same small
# Dockerfile (FROM, ENV, COPY, RUN, CMD) and the same base image, with no network.
#
#   bench/build.sh [RUNS]           (default 5 runs each; run as root)
#   GB=path/to/glassbox             use that binary instead of building a release one
#
# The base is glassbox's busybox (made offline from the host's static busybox), saved with
# `glassbox save` and loaded into buildah's own storage in the work directory with `buildah
# pull docker-archive:…`. buildah runs with --layers (its cache), the overlay driver,
# --network none, and runc as its runtime (crun refuses this host's hybrid cgroups).
# Cold: --no-cache, so every RUN makes a container and every COPY a layer. Cached: the same
# build again, every step from the cache. The best of RUNS is kept for each.
# Target: glassbox ≤ 1.0× buildah, cold and cached.
set -euo pipefail
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/gb-bench-build.XXXXXX")
bh=(buildah --root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver overlay)
cleanup() {
  "${bh[@]}" rm -a >/dev/null 2>&1 || true
  "${bh[@]}" rmi -a -f >/dev/null 2>&1 || true
  umount "$work/buildah/root/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${GB:-}" ]; then
  gb=$GB
else
  (cd "$here" && cargo build --release --quiet)
  gb=$here/target/$(rustc --print host-tuple)/release/glassbox
fi
for t in buildah runc; do
  command -v "$t" >/dev/null || { echo "bench/build.sh: $t is missing (.ci/run installs it)" >&2; exit 1; }
done
cd "$work"   # a directory named like the image would be taken for a root filesystem
export GLASSBOX_STATE_DIR=$work/glassbox NO_COLOR=1
unset GLASSBOX_DATA_DIR GLASSBOX_TRACE

# The context: a Dockerfile and a few files.
mkdir -p "$work/ctx/app"
for i in 1 2 3 4 5; do head -c 30000 /dev/urandom | base64 > "$work/ctx/app/f$i.txt"; done
echo 'echo "hello, $(cat /app/size) bytes"' > "$work/ctx/app/run.sh"
cat > "$work/ctx/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
COPY app/ /app/
RUN cat /app/*.txt | wc -c > /app/size
CMD ["sh", "/app/run.sh"]
EOF

# The same base for both.
"$gb" -q run --rm busybox true
"$gb" -q save busybox -o "$work/busybox.tar"
"${bh[@]}" pull -q "docker-archive:$work/busybox.tar" >/dev/null

best() { sort -n | head -1; }
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
gb_build() { "$gb" -q build "$@" -t bench "$work/ctx"; }
bh_build() { "${bh[@]}" bud -q --layers --network none --runtime "$(command -v runc)" "$@" -t bench "$work/ctx"; }

# Both must build, and the images must run the same.
gb_build >/dev/null
bh_build >/dev/null
c=$("${bh[@]}" from -q bench)
theirs=$(cat "$("${bh[@]}" mount "$c")/app/size")
"${bh[@]}" rm "$c" >/dev/null
ours=$("$gb" -q run --rm bench cat /app/size)
[ "$ours" = "$theirs" ] || { echo "bench/build.sh: the images differ ($ours, $theirs)" >&2; exit 1; }

declare -A t
for _ in $(seq "$runs"); do
  t[gb_cold]+="$(time_it gb_build --no-cache)"$'\n'
  t[bh_cold]+="$(time_it bh_build --no-cache)"$'\n'
  t[gb_cached]+="$(time_it gb_build)"$'\n'
  t[bh_cached]+="$(time_it bh_build)"$'\n'
done
for k in gb_cold bh_cold gb_cached bh_cached; do
  t[$k]=$(printf '%s' "${t[$k]}" | best)
done
printf 'best of %d runs\n' "$runs"
printf '%-30s %6.3f s\n' "buildah bud (cold)" "${t[bh_cold]}"
printf '%-30s %6.3f s   %.2fx\n' "glassbox build (cold)" "${t[gb_cold]}" "$(echo "${t[gb_cold]} / ${t[bh_cold]}" | bc -l)"
printf '%-30s %6.3f s\n' "buildah bud (cached)" "${t[bh_cached]}"
printf '%-30s %6.3f s   %.2fx\n' "glassbox build (cached)" "${t[gb_cached]}" "$(echo "${t[gb_cached]} / ${t[bh_cached]}" | bc -l)"
