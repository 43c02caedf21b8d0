#!/bin/sh
# Make a Debian root filesystem with debootstrap (needs root and a Debian mirror).
#   rootfs-scripts/debian.sh DIR [SUITE] [MIRROR]    (default bookworm, the mirror apt uses)
# Runs `debootstrap --variant=minbase SUITE DIR MIRROR` (about 150 MB; apt-get install
# debootstrap). Then, to make a tarball as `docker export` would:  tar cf debian.tar -C DIR .
set -eu
dir=${1:?usage: $0 DIR [SUITE] [MIRROR]}
suite=${2:-bookworm}
mirror=${3:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || { echo "$0: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "$0: debootstrap needs root" >&2; exit 1; }
debootstrap --variant=minbase "$suite" "$dir" "$mirror"
echo "made a Debian $suite root filesystem in $dir ($(du -sh "$dir" | cut -f1))"
