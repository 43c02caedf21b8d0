#!/bin/sh
# The classic by-hand lesson, for machines with Docker: an image's files as one tarball.
#   rootfs-scripts/docker-export.sh IMAGE DIR        (e.g. alpine rootfs)
# Runs `docker create IMAGE` (a container that is never started), `docker export` of it into
# DIR.tar, removes the container, then extracts DIR.tar into DIR with `glassbox unpack`
# (or `tar xf`). `docker save IMAGE -o FILE.tar` keeps the layers and config instead, and
# `glassbox unpack FILE.tar DIR` reads that too.
set -eu
image=${1:?usage: $0 IMAGE DIR}
dir=${2:?usage: $0 IMAGE DIR}
command -v docker >/dev/null || { echo "$0: docker is not installed" >&2; exit 1; }
id=$(docker create "$image")
trap 'docker rm "$id" >/dev/null' EXIT
docker export -o "$dir.tar" "$id"
if command -v glassbox >/dev/null; then
  glassbox unpack "$dir.tar" "$dir"
else
  mkdir -p "$dir" && tar xf "$dir.tar" -C "$dir"
fi
echo "exported $image into $dir (the tarball is $dir.tar)"
