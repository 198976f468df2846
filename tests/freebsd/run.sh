#!/bin/sh
# The FreeBSD tier in one command, as root on a FreeBSD 14.3 host, from the
# checkout: sh tests/freebsd/run.sh [pytest options]
# Needs python3 with pytest, click and jinja2 (pkg install python3
# py311-pytest py311-click py311-Jinja2), /rescue, and kern.racct.enable=1
# in /boot/loader.conf for the rctl cases (they skip without it).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(uname -s)" != FreeBSD ] || [ "$(id -u)" != 0 ]; then
	echo "$0: run as root on FreeBSD" >&2
	exit 2
fi
cd "${top}"
PYTHONPATH="${top}" exec python3 -m pytest -v -p no:cacheprovider tests/freebsd "$@"
