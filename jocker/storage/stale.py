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


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, str]]:
    """(mount point, filesystem type, source) of every mount."""
    from ..runtime.mountinfo import mount_table
    return mount_table(mountinfo)


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


def _topmost(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The mounts of found with no other mount of found above them."""
    paths = {p for p, _src in found}
    return [(p, src) for p, src in found
            if not any(q != p and (q == "/" or p.startswith(q + "/")) for q in paths)]


def _ours(root: str, mountpoint: str) -> list[tuple[str, str]]:
    return [(p, src) for p, src in stale_mounts(mountpoint) if src == root or src.startswith(root + "/")]


def heal(runner, zfs, root: str, mountpoint: str) -> list[str]:
    """Detach jocker's stale mounts and mount its datasets again (parents
    first). Returns one line per dataset remounted, or not remounted.

    A mount below a stale mount cannot be reached by path (the lookup goes
    through the dead parent and fails ENOTCONN), so the topmost stale mounts
    go first, lazily and recursively (`umount -l` detaches the whole subtree;
    `-c` keeps umount(8) from canonicalising, i.e. stat-ing, the path), then
    the mount table is read again, until nothing of ours is stale or a round
    makes no progress. A failure is reported, never raised: a command must
    not die because recovery could not finish."""
    from ..errors import JockerError
    stale_before = _ours(root, mountpoint)
    lines = []
    pending = stale_before
    while pending:
        for path, _src in _topmost(pending):
            runner.run(["umount", "-l", "-c", path], check=False)     # judged by the re-read below
        left = _ours(root, mountpoint)
        if {p for p, _s in left} >= {p for p, _s in pending}:
            lines += [f"could not detach the stale mount {p} (`umount -l` it by hand)" for p, _s in left]
            break
        pending = left
    done: set[str] = set()
    for _path, src in sorted(stale_before, key=lambda m: m[0].count("/")):
        if src in done:
            continue
        done.add(src)
        try:
            zfs.mount(src)
        except JockerError as e:
            if "already mounted" not in str(e):
                lines.append(f"could not remount {src}: {e.message}")
                continue
        lines.append(f"remounted {src} (its mount was stale)")
    return lines
