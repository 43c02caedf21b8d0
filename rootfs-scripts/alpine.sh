#!/bin/sh
# Make an Alpine root filesystem from the official minirootfs tarball (needs network).
#   rootfs-scripts/alpine.sh DIR [VERSION] [ARCH]     (default 3.20.3, this host's arch)
# Downloads alpine-minirootfs-VERSION-ARCH.tar.gz and its .sha256 from dl-cdn.alpinelinux.org
# into DIR.download/, checks the checksum, then extracts it into DIR with `glassbox unpack`
# (or `tar xzf` when glassbox is not on PATH). Leaves the tarball in DIR.download/ for reuse.
set -eu
dir=${1:?usage: $0 DIR [VERSION] [ARCH]}
version=${2:-3.20.3}
arch=${3:-$(uname -m)}
branch=v$(echo "$version" | cut -d. -f1,2)
name=alpine-minirootfs-$version-$arch.tar.gz
url=https://dl-cdn.alpinelinux.org/alpine/$branch/releases/$arch/$name
dl=$dir.download
mkdir -p "$dl"
if [ ! -f "$dl/$name" ]; then
  echo "downloading $url"
  curl -fL --retry 3 -o "$dl/$name.part" "$url"
  mv "$dl/$name.part" "$dl/$name"
fi
curl -fsSL -o "$dl/$name.sha256" "$url.sha256"
(cd "$dl" && sha256sum -c "$name.sha256") || { echo "$0: checksum mismatch for $name: not extracting" >&2; exit 1; }
if command -v glassbox >/dev/null; then
  glassbox unpack "$dl/$name" "$dir"
else
  mkdir -p "$dir" && tar xzf "$dl/$name" -C "$dir"
fi
echo "made an Alpine $version ($arch) root filesystem in $dir"
