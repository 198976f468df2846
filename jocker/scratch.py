"""Scratch files and directories named after the process that owns them:
`<kind>-<pid>-<random>`, kept in jocker's own 0700 directory (the store's
.tmp, never the shared temp directory). A process killed with SIGKILL runs
no cleanup, so the garbage collector (`system prune`) removes what such a
process left, and only that: an entry whose name does not say whose it is,
whose owner process still runs, or that another user owns is never
touched."""

from __future__ import annotations

import os
import re
import stat
import tempfile

from .host import tree

KINDS = ("import", "jocker-context")
_OWNED = re.compile(r"^(%s)-(\d+)-" % "|".join(map(re.escape, KINDS)))


def _prefix(kind: str) -> str:
    assert kind in KINDS, kind
    return f"{kind}-{os.getpid()}-"


def private_dir(path: str) -> str:
    """Make `path` (jocker's scratch directory) exist, mode 0700."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if stat.S_IMODE(os.lstat(path).st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def mkstemp(kind: str, dir: str, suffix: str = "") -> tuple[int, str]:
    return tempfile.mkstemp(prefix=_prefix(kind), suffix=suffix, dir=private_dir(dir))


def mkdtemp(kind: str, dir: str) -> str:
    return tempfile.mkdtemp(prefix=_prefix(kind), dir=private_dir(dir))


def disk_usage(path: str) -> int:
    """Bytes of disk the file or tree at path holds (its blocks, as du(1)
    counts them); symlinks are not followed, unreadable entries count 0."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    total = st.st_blocks * 512
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    pass
    return total


def remove_tree(path: str) -> int:
    """Remove the file or tree at path; the bytes it held (0 if it could not
    be removed at all)."""
    size = disk_usage(path)
    if os.path.isdir(path) and not os.path.islink(path):
        tree.remove_tree(path)
    else:
        try:
            os.unlink(path)
        except OSError:
            return 0
    return size - disk_usage(path)


def collect(dirs: list[str]) -> tuple[list[str], int]:
    """Remove the entries of dead owners in dirs; their paths and the bytes
    they held."""
    from .images.state import txn_alive
    removed = []
    freed = 0
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            m = _OWNED.match(name)
            if not m or txn_alive(m.group(2)):
                continue
            path = os.path.join(d, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_uid != os.geteuid():
                continue            # another user's file with a look-alike name
            freed += remove_tree(path)
            if not os.path.lexists(path):
                removed.append(path)
    return removed, freed
