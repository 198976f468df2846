#!/bin/sh
# The main job on a fresh machine: install jocker and what it needs, create the
# embedded file-backed pool, make a base image and list it.
# Run as root from a checkout: sh examples/quickstart.sh
set -eu
cd "$(dirname "$0")/.."
sh examples/install-host-deps.sh
python3 -m pip install -q .
jocker system init
if [ "$(uname -s)" = Linux ]; then
	# The workbench's base image: a static busybox rootfs.
	tmp=$(mktemp -d)
	sh examples/make-busybox-rootfs.sh "$tmp/rootfs"
	jocker import "$tmp/rootfs" busybox:latest
	rm -rf "$tmp"
else
	# FreeBSD: the release's base system is the base image.
	rel=$(freebsd-version -u | sed 's/-p[0-9]*$//')
	fetch -o /tmp/base.txz "https://download.freebsd.org/releases/$(uname -m)/$(uname -p)/$rel/base.txz"
	jocker import /tmp/base.txz "freebsd:$rel"
fi
jocker images
