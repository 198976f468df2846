#!/bin/sh
# The whole test suite (the README's test command): installs the host
# packages and jocker with its test extra, starts zfs-fuse on Linux, then
# runs pytest. Run as root.
set -eu
cd "$(dirname "$0")/.."
sh examples/install-host-deps.sh
python3 -m pip install -q -e '.[test]'
if [ "$(uname -s)" = Linux ]; then
	python3 -c 'from jocker.storage.zfsfuse import ensure_running; from jocker.host.runner import Runner; ensure_running(Runner())'
fi
exec python3 -m pytest -q -ra "$@"
