"""What changed between a ZFS clone and its origin: `jocker diff`, `commit`,
and the change set a layer tar is written from (layertar).

zfs-fuse has no `zfs diff`, so both trees are walked. A clone shares inode
numbers with its origin, so an entry whose inode, type, mode, owner, size,
mtime and ctime all match is unchanged; because some filesystems (zfs-fuse)
keep whole-second times, a regular file whose ctime is not older than the
origin snapshot is also compared by content (git's "racy" rule), which makes
the answer exact.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

ADDED, CHANGED, DELETED = "A", "C", "D"


@dataclass(frozen=True)
class Change:
    kind: str       # A, C or D
    path: str       # absolute inside the container, e.g. /etc/hosts

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _changed(base: os.stat_result, new: os.stat_result, bpath: str, npath: str, since: float) -> bool:
    if stat.S_IFMT(base.st_mode) != stat.S_IFMT(new.st_mode):
        return True
    if (base.st_ino, base.st_mode, base.st_uid, base.st_gid, base.st_size, base.st_mtime_ns,
            base.st_ctime_ns) != (new.st_ino, new.st_mode, new.st_uid, new.st_gid, new.st_size,
                                  new.st_mtime_ns, new.st_ctime_ns):
        return True
    if stat.S_ISLNK(new.st_mode):
        return os.readlink(bpath) != os.readlink(npath)
    if stat.S_ISREG(new.st_mode) and new.st_ctime >= since - 1:
        return not _same_content(bpath, npath)
    return False


def diff_trees(base_root: str, new_root: str, since: float = 0.0,
               skip: tuple[str, ...] = ()) -> list[Change]:
    """Changes from base_root to new_root, sorted by path. `since` is the
    origin snapshot's creation time (epoch seconds); `skip` lists container
    paths to ignore (mount points such as /dev and /proc)."""
    out: list[Change] = []
    root_dev = os.lstat(new_root).st_dev

    def walk(rel: str) -> None:
        npath = os.path.join(new_root, rel) if rel else new_root
        bpath = os.path.join(base_root, rel) if rel else base_root
        try:
            names = set(os.listdir(npath))
        except OSError:
            names = set()
        try:
            bnames = set(os.listdir(bpath)) if os.path.isdir(bpath) and not os.path.islink(bpath) else set()
        except OSError:
            bnames = set()
        for name in sorted(bnames - names):
            out.append(Change(DELETED, "/" + os.path.join(rel, name)))
        for name in sorted(names):
            crel = os.path.join(rel, name)
            cpath = "/" + crel
            if cpath in skip:
                continue
            nst = os.lstat(os.path.join(new_root, crel))
            if nst.st_dev != root_dev:
                continue        # something mounted inside the container
            try:
                bst = os.lstat(os.path.join(base_root, crel))
            except FileNotFoundError:
                out.append(Change(ADDED, cpath))
                if stat.S_ISDIR(nst.st_mode):
                    _all_added(new_root, crel, out)
                continue
            if _changed(bst, nst, os.path.join(base_root, crel), os.path.join(new_root, crel), since):
                out.append(Change(CHANGED, cpath))
            if stat.S_ISDIR(nst.st_mode) and stat.S_ISDIR(bst.st_mode):
                walk(crel)
            elif stat.S_ISDIR(nst.st_mode):
                _all_added(new_root, crel, out)

    walk("")
    return sorted(out, key=lambda c: c.path)


def _all_added(root: str, rel: str, out: list[Change]) -> None:
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, rel)):
        base = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            out.append(Change(ADDED, "/" + os.path.join(base, name)))


class ChangedUnderUs(Exception):
    """A path's parent became a symlink while we worked on it."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_parent(root_fd: int, path: str) -> tuple[int, str]:
    """(fd of the directory holding path, last name), walking from root_fd
    without following any symlink: neither a container nor a half-built
    layer can send a read or a write elsewhere."""
    parts = [p for p in path.split("/") if p]
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as e:
        os.close(fd)
        raise ChangedUnderUs(f"{path}: a parent directory is missing or is a symlink ({e.strerror})")
    return fd, parts[-1]


def _remove(parent: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent)      # symlink-attack resistant
    else:
        os.unlink(name, dir_fd=parent)


def _copy_entry(sparent: int, dparent: int, name: str) -> os.stat_result:
    st = os.stat(name, dir_fd=sparent, follow_symlinks=False)
    try:
        existing = os.stat(name, dir_fd=dparent, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None and not (stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(existing.st_mode)):
        _remove(dparent, name)
        existing = None
    if stat.S_ISDIR(st.st_mode):
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=dparent)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=sparent), name, dir_fd=dparent)
    elif stat.S_ISREG(st.st_mode):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sparent)
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600, dir_fd=dparent)
        with os.fdopen(src, "rb") as fin, os.fdopen(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    else:
        os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dparent)
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dparent, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dparent)
    if not stat.S_ISDIR(st.st_mode):
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dparent, follow_symlinks=False)
    return st


def apply(src_root: str, dest_root: str, changes: list[Change]) -> None:
    """Replay changes from src_root onto dest_root (a clone of the same origin).
    Every path is reached through directory descriptors opened without
    following symlinks, on both sides."""
    src_fd = os.open(src_root, _DIR_FLAGS)
    dst_fd = os.open(dest_root, _DIR_FLAGS)
    dir_times: list[tuple[str, os.stat_result]] = []
    try:
        for c in changes:
            if c.kind == DELETED:
                parent, name = _open_parent(dst_fd, c.path)
                try:
                    _remove(parent, name)
                finally:
                    os.close(parent)
        for c in sorted((c for c in changes if c.kind != DELETED), key=lambda c: c.path.count("/")):
            sparent, name = _open_parent(src_fd, c.path)
            try:
                dparent, _ = _open_parent(dst_fd, c.path)
                try:
                    st = _copy_entry(sparent, dparent, name)
                finally:
                    os.close(dparent)
            finally:
                os.close(sparent)
            if stat.S_ISDIR(st.st_mode):
                dir_times.append((c.path, st))
        # Directory times last: writing children bumps them.
        for path, st in sorted(dir_times, key=lambda t: -t[0].count("/")):
            parent, name = _open_parent(dst_fd, path)
            try:
                os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(parent)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
