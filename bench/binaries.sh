# Sourced by the benches: the glassbox binaries they time, as fresh copies.
#   GB=path/to/glassbox   that binary, else a release build of this tree
#   GB_BEFORE=path/to/old/glassbox   an older one too, if set
# bench_binaries HERE sets $gb (and $GB_BEFORE) to copies in $bins_dir, a directory on
# /var/tmp (a disk) that the caller removes. Copies, because how a binary's file sits in the
# page cache moves a run: on the test VM the same bytes copied anew ran a `run --rm` in 0.91x
# the time of the file written the day before (27 page faults fewer), so a build kept for
# GB_BEFORE looked ~9 % slower than it is. Both are timed as files just written.
bench_binaries() {
  local src=${GB:-}
  if [ -z "$src" ]; then
    (cd "$1" && cargo build --release -q)
    src=$1/target/$(rustc --print host-tuple)/release/glassbox
  fi
  bins_dir=$(mktemp -d /var/tmp/glassbox-bench-bin.XXXXXX)
  cp "$src" "$bins_dir/glassbox"
  gb=$bins_dir/glassbox
  if [ -n "${GB_BEFORE:-}" ]; then
    cp "$GB_BEFORE" "$bins_dir/glassbox-before"
    GB_BEFORE=$bins_dir/glassbox-before
  fi
}
