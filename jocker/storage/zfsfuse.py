"""Starting zfs-fuse on the Linux workbench (FreeBSD has ZFS in the kernel).

zfs-fuse refuses to start while a stale pid file from a killed daemon is
present, so check that the recorded process is really alive first.
"""

from __future__ import annotations

import os
import time

from ..errors import JockerError
from ..host.process import pid_alive
from ..host.runner import Runner

PIDFILE = "/var/run/zfs-fuse.pid"
SOCKET = "/var/run/zfs/zfs_socket"


def running(pidfile: str = PIDFILE) -> bool:
    try:
        with open(pidfile) as f:
            return pid_alive(f.read().strip())
    except OSError:
        return False


def ensure_running(runner: Runner, pidfile: str = PIDFILE) -> bool:
    """Start zfs-fuse unless it runs; True when this call started it."""
    if running(pidfile):
        return False
    import shutil
    daemon = shutil.which("zfs-fuse") or "/usr/sbin/zfs-fuse"
    if not os.path.exists(daemon):
        raise JockerError("zfs-fuse is not installed", hint="apt-get install zfs-fuse")
    if os.path.exists(pidfile):
        os.unlink(pidfile)        # stale: its process is gone
    runner.run([daemon, "--pidfile", pidfile])
    for _ in range(100):          # the daemon answers once its socket exists
        if os.path.exists(SOCKET) and runner.run(["zpool", "list", "-H"], check=False).returncode == 0:
            return True
        time.sleep(0.05)
    raise JockerError("zfs-fuse did not come up within 5 s", hint="see syslog for zfs-fuse errors")


def unmount_fuse(mountpoint: str) -> bool:
    """umount(2) of a zfs-fuse mount: what `zfs unmount` has umount(8) do
    there. False when the kernel refuses (busy: someone's cwd or open file
    is in it), and the caller lets zfs say why."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.umount2(os.fsencode(mountpoint), 0) == 0
