#!/usr/bin/env bash
# Boot glassbox in a small VM and run tests/vm/vm-tests.sh there, on a host whose only
# cgroup filesystem is cgroup2 (--layout v2, the default: most users' machines) or only
# cgroup v1 hierarchies (--layout v1). The serial console comes out on stdout: one
# `GBVM PASS name` or `GBVM FAIL name: why` line per check, `GBVM DONE` at the end.
#
#   tests/vm/run.sh [--layout v2|v1] [--break memory] [--fetch-only]
#
# --break memory: the test-only switch that makes the suite fail (see vm-tests.sh).
# --fetch-only: only download and unpack the kernel (CI does this up front).
#
# The kernel is Debian's cloud kernel, fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` (never installed) into target/vm/kernel; remove that directory to fetch
# a newer one. QEMU emulates the CPU (-accel tcg: no KVM needed); the VM has no network
# (-nic none). Environment: GBVM_BIN (the glassbox binary, default target/HOST-TUPLE/debug/glassbox),
# GBVM_CACHE (default target/vm), GBVM_TIMEOUT (seconds, default 150).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
layout=v2 broken="" fetch_only=""
while [ $# -gt 0 ]; do
    case "$1" in
    --layout) layout=$2; shift 2 ;;
    --break) broken=$2; shift 2 ;;
    --fetch-only) fetch_only=1; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$layout" in v1 | v2) ;; *) echo "run.sh: --layout is v1 or v2, not $layout" >&2; exit 2 ;; esac
bin=${GBVM_BIN:-$repo/target/$(rustc --print host-tuple)/debug/glassbox}
cache=${GBVM_CACHE:-$repo/target/vm}
kernel=$cache/kernel

fetch_kernel() {
    [ -f "$kernel/vmlinuz" ] && [ -f "$kernel/overlay.ko" ] && return
    # The metapackage names the current kernel package; that one holds the files.
    local pkg tmp
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        echo "run.sh: apt knows no linux-image-cloud-amd64: run apt-get update (Debian's package lists are needed)" >&2
        exit 1
    fi
    tmp=$(mktemp -d)
    # apt's download sandbox user must be able to write there.
    chmod 0777 "$tmp"
    (cd "$tmp" && apt-get download -q "$pkg" >&2)
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    mkdir -p "$kernel.new"
    cp "$tmp"/x/boot/vmlinuz-* "$kernel.new/vmlinuz"
    find "$tmp/x" -name overlay.ko -exec cp {} "$kernel.new/overlay.ko" \;
    echo "$pkg" >"$kernel.new/package"
    rm -rf "$kernel" "$tmp" && mv "$kernel.new" "$kernel"
}
fetch_kernel
[ -n "$fetch_only" ] && exit 0

# The initramfs: busybox (static), glassbox without its debug sections and the libraries
# ldd lists for it, the init and the checks.
busybox=$(command -v busybox)
file -L "$busybox" | grep -q 'statically linked' || {
    echo "run.sh: $busybox is not static: install busybox-static" >&2
    exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/glassbox-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,usr/local/bin,lib/modules,etc,root,newroot}
cp "$busybox" "$root/bin/busybox"
objcopy --strip-debug "$bin" "$root/usr/local/bin/glassbox"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cp "$kernel/overlay.ko" "$root/lib/modules/"
cp "$repo/tests/vm/init" "$root/init"
cp "$repo/tests/vm/vm-tests.sh" "$root/vm-tests.sh"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'gbuser:x:1000:1000::/tmp/u:/bin/sh' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'gbuser:x:1000:' >"$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio"

cmdline="console=ttyS0 loglevel=1 panic=-1 gbvm.layout=$layout gbvm.break=$broken"
[ "$layout" = v2 ] && cmdline="$cmdline cgroup_no_v1=all"
timeout --kill-after=5 "${GBVM_TIMEOUT:-150}" qemu-system-x86_64 \
    -accel tcg -nographic -m 1G -smp 2 -no-reboot -nic none \
    -kernel "$kernel/vmlinuz" -initrd "$work/initramfs.cpio" -append "$cmdline" </dev/null
