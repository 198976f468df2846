"""Storage that comes back: after zfs-fuse restarts (on the Linux workbench
jocker starts it when it finds it down), every mount of the old daemon is
stale, answering "Transport endpoint is not connected". Find those under
jocker's mountpoint, detach them, and mount jocker's own datasets again;
a stale mount of anything else is reported, never touched.

FreeBSD's ZFS lives in the kernel: nothing goes stale, mount_points() is
empty there (no /proc/self/mountinfo).
"""

from __future__ import annotations

import errno
import os

STALE_ERRNOS = (errno.ENOTCONN, errno.EIO)


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, source) of every mount."""
    out = []
    try:
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, source = (right.split() + ["", ""])[:2]
                out.append((_unescape(left.split()[4]), fstype, _unescape(source)))
    except OSError:
        pass
    return out


def is_stale(path: str) -> bool:
    try:
        os.stat(path)
        return False
    except OSError as e:
        return e.errno in STALE_ERRNOS


def stale_mounts(mountpoint: str, mounts=None) -> list[tuple[str, str]]:
    """(path, source) of the FUSE mounts at or below mountpoint that answer
    ENOTCONN/EIO, deepest first (the order to detach them)."""
    top = mountpoint.rstrip("/")
    found = [(p, src) for p, fstype, src in (mounts if mounts is not None else mount_points())
             if fstype.startswith("fuse") and (p == top or p.startswith(top + "/")) and is_stale(p)]
    return sorted(found, key=lambda m: -m[0].count("/"))


def heal(runner, zfs, root: str, mountpoint: str) -> list[str]:
    """Detach jocker's stale mounts and mount its datasets again (parents
    first). Returns one line per dataset remounted."""
    from ..errors import JockerError
    ours = [(p, src) for p, src in stale_mounts(mountpoint) if src == root or src.startswith(root + "/")]
    for path, _src in ours:
        runner.run(["umount", "-l", path])
    done = []
    for path, src in reversed(ours):
        if src in (s for _p, s in done):
            continue
        try:
            zfs.mount(src)
        except JockerError as e:
            if "already mounted" not in str(e):
                raise
        done.append((path, src))
    return [f"remounted {src} (its mount was stale)" for _p, src in done]
