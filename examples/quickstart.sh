#!/bin/sh
# The main job on a fresh machine: install jocker and what it needs, create the
# embedded file-backed pool, import a base image, build the example image and
# run a container from it. Run as root from a checkout: sh examples/quickstart.sh
set -eu
cd "$(dirname "$0")/.."
sh examples/install-host-deps.sh
python3 -m pip install -q .
jocker system init
if [ "$(uname -s)" = Linux ]; then
	base=busybox:latest           # the workbench's base: a static busybox rootfs
	if ! jocker images -q "$base" | grep -q .; then
		tmp=$(mktemp -d)
		sh examples/make-busybox-rootfs.sh "$tmp/rootfs"
		jocker import "$tmp/rootfs" "$base"
		rm -rf "$tmp"
	fi
else
	rel=$(freebsd-version -u | sed 's/-p[0-9]*$//')
	base="freebsd:$rel"           # FreeBSD: the release's base system
	if ! jocker images -q "$base" | grep -q .; then
		fetch -o /tmp/base.txz "https://download.freebsd.org/releases/$(uname -m)/$(uname -p)/$rel/base.txz"
		jocker import /tmp/base.txz "$base"
		rm -f /tmp/base.txz
	fi
fi
jocker build -t hello:latest --build-arg "BASE=$base" examples/hello
jocker run --rm hello:latest
jocker images
