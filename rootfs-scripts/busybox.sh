#!/bin/sh
# Make a minimal root filesystem from the host's static busybox, with no network.
#   rootfs-scripts/busybox.sh DIR
# It makes DIR with busybox at /bin/busybox, every applet linked in /bin, /etc/passwd,
# /etc/group and /etc/hostname, and empty /proc /sys /dev /tmp for the mounts to come.
# Needs busybox-static (Debian: apt-get install busybox-static). `glassbox unpack busybox DIR`
# makes the same tree from Rust.
set -eu
dir=${1:?usage: $0 DIR}
bb=$(command -v busybox || true)
[ -n "$bb" ] || { echo "$0: busybox is not installed (apt-get install busybox-static)" >&2; exit 1; }
if ! file "$bb" 2>/dev/null | grep -q static && ldd "$bb" >/dev/null 2>&1; then
  echo "$0: $bb is not statically linked: install busybox-static" >&2; exit 1
fi
mkdir -p "$dir"/bin "$dir"/etc "$dir"/proc "$dir"/sys "$dir"/dev "$dir"/tmp "$dir"/root "$dir"/usr/bin "$dir"/sbin
chmod 1777 "$dir"/tmp
cp "$bb" "$dir"/bin/busybox
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir"/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir"/etc/group
echo glassbox > "$dir"/etc/hostname
echo "made a busybox root filesystem in $dir ($("$bb" --list | wc -l) applets)"
