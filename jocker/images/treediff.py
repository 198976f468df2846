"""What changed between a ZFS clone and its origin: `jocker diff`, `commit`,
and the content digest of a build layer.

zfs-fuse has no `zfs diff`, so both trees are walked. A clone shares inode
numbers with its origin, so an entry whose inode, type, mode, owner, size,
mtime and ctime all match is unchanged; because some filesystems (zfs-fuse)
keep whole-second times, a regular file whose ctime is not older than the
origin snapshot is also compared by content (git's "racy" rule), which makes
the answer exact.
"""

from __future__ import annotations

import hashlib
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


def digest(root: str, changes: list[Change]) -> str:
    """sha256 over what the changes contain: the layer's content address."""
    h = hashlib.sha256()
    for c in changes:
        h.update(f"{c.kind}\0{c.path}\0".encode())
        if c.kind == DELETED:
            continue
        p = os.path.join(root, c.path.lstrip("/"))
        st = os.lstat(p)
        h.update(f"{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(p).encode())
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return "sha256:" + h.hexdigest()


def apply(src_root: str, dest_root: str, changes: list[Change]) -> None:
    """Replay changes from src_root onto dest_root (a clone of the same origin)."""
    for c in changes:
        if c.kind == DELETED:
            p = os.path.join(dest_root, c.path.lstrip("/"))
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
    for c in sorted((c for c in changes if c.kind != DELETED), key=lambda c: c.path.count("/")):
        src = os.path.join(src_root, c.path.lstrip("/"))
        dst = os.path.join(dest_root, c.path.lstrip("/"))
        st = os.lstat(src)
        if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and os.path.isdir(dst)
                                         and not os.path.islink(dst)):
            shutil.rmtree(dst) if os.path.isdir(dst) and not os.path.islink(dst) else os.unlink(dst)
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(dst, exist_ok=True)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
        else:
            os.mknod(dst, st.st_mode, st.st_rdev)
        os.lchown(dst, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(dst, stat.S_IMODE(st.st_mode))
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
