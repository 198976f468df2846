#!/bin/sh
# Install the host packages jocker and its tests need, if they are missing.
# Debian/Ubuntu (the Linux workbench): zfs-fuse, busybox-static, ...; docker.io
# is the reference engine of tests/integration/test_docker_reference.py,
# docker-compose (1.x, docker-py underneath) drives `jocker serve` in
# tests/api/test_api_compose.py.
# FreeBSD: Python with click and jinja2 (ZFS, jail and pf are in base).
set -eu
case "$(uname -s)" in
Linux)
	need=""
	for pkg in zfs-fuse busybox-static nftables iproute2 util-linux procps tar xz-utils python3-pip \
		mandoc shellcheck docker-registry skopeo podman libseccomp2 docker.io docker-compose; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need="$need $pkg"
	done
	if [ -n "$need" ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $need >/dev/null
	fi
	;;
FreeBSD)
	pkg install -y python3 py311-click py311-Jinja2 py311-pip >/dev/null
	;;
*)
	echo "install-host-deps: unsupported system $(uname -s)" >&2
	exit 1
	;;
esac
