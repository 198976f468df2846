"""Safe access to a container's or image's root filesystem, as a chroot
would see it: paths resolved inside the root (an absolute symlink in the
image points inside it, never at the host), writes that refuse to escape
(COPY/ADD, cp, layer extraction), and safe extraction of archives (ADD's
auto-extraction). Used by builds, `cp`, volume copy-up and layer import.

The other policy, for the jail driver's mount points and /etc files, never
follows a symlink at all: runtime/jail_rootfs.py."""

from __future__ import annotations

import errno
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from typing import BinaryIO

from .errors import BuildError, JockerError

CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | os.O_CLOEXEC
# Intermediate directories need only search permission (a 0311 directory is
# traversable); O_PATH where the OS has it [U: FreeBSD 14 has O_PATH].
_WALK_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | _NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _join(base: str, rel: str) -> str:
    if not rel:
        return base
    return rel if base in (".", "") else f"{base}/{rel}"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _default_owner() -> tuple[int, int] | None:
    # Docker makes copied files root-owned; only root can do that here.
    return (0, 0) if os.geteuid() == 0 else None


# --- writing inside a root ---------------------------------------------------

def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path of image path `path`, resolving symlinks as if chrooted.

    Absolute link targets restart at `root` and `..` never climbs above it,
    so the result is always `root` or below. Missing components are kept
    as plain names.
    """
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, part)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
            links += 1
            if links > MAX_SYMLINKS:
                raise BuildError(f"too many levels of symbolic links resolving {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        done.append(part)
    return os.path.join(root, *done)


def container_path_in_root(root: str, path: str) -> str:
    """Container path `path` with the image's symlinks resolved inside root
    (resolve_in_root), as the runtimes mount on and chdir to it: WORKDIR
    /app through an in-image link /app -> /opt/app is /opt/app."""
    rel = os.path.relpath(resolve_in_root(root, path or "/"), root)
    return "/" if rel == "." else "/" + rel


class _Writer:
    """Creates files, directories and links below `root`, never outside it.

    strict=True (context tarballs) refuses to go through any symlink;
    otherwise (image roots) symlinks are resolved chroot-style. Owner, mode
    and times are set through file descriptors opened with O_NOFOLLOW (a
    directory's, deferred to finish(), through an fd walk from root), so a
    later entry that swaps a directory for a symlink to a host path cannot
    aim them at the host.
    """

    def __init__(self, root: str, *, owner: tuple[int, int] | None, chmod: int | None,
                 strict: bool, err: type[JockerError], keep_owner: bool = False):
        self.root = os.path.realpath(root)
        self.owner, self.chmod, self.strict, self.err = owner, chmod, strict, err
        self.keep_owner = keep_owner
        self._dirs: list[tuple] = []

    def image_path(self, host: str) -> str:
        rel = os.path.relpath(host, self.root).replace(os.sep, "/")
        return "/" if rel == "." else "/" + rel

    def _strict_path(self, path: str) -> str:
        host = self.root
        for part in (p for p in path.split("/") if p not in ("", ".")):
            host = os.path.join(host, part)
            if os.path.islink(host):
                raise self.err(f"refusing to write {path}: it goes through the symlink "
                               f"{self.image_path(host)}")
        return host

    def ensure_dir(self, path: str, mode: int | None = None, mtime: int | None = None) -> str:
        """Host path of directory `path`, creating missing ones (0755, owned)."""
        host = self._strict_path(path) if self.strict else resolve_in_root(self.root, path)
        missing = []
        cur = host
        # One lstat per level (each is a round trip on a FUSE file system;
        # a layer applies this for every entry): the first that exists must
        # be a real directory, not a link to one.
        while True:
            st = _lstat(cur)
            if st is not None or cur == self.root:
                break
            missing.append(cur)
            cur = os.path.dirname(cur)
        if st is None or stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise self.err(f"cannot create {path}: {self.image_path(cur)} is not a directory")
        for d in reversed(missing):
            os.mkdir(d, 0o700)
            if d == host and mode is not None:
                self._defer_dir(d, mode, mtime, None)
            else:  # a plain parent: 0755 whatever --chmod says
                self._defer_dir(d, 0o755, None, None, override=False)
        return host

    def _defer_dir(self, host: str, mode: int, mtime: int | None, owner,
                   override: bool = True) -> None:
        # Modes and times of directories are set last: a read-only directory
        # must still accept its children, and writing them bumps its mtime.
        self._dirs.append((host, mode, mtime, owner, override))

    def _clear(self, host: str) -> None:
        """Remove a non-directory at `host` so it can be replaced."""
        st = _lstat(host)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise self.err(f"cannot overwrite directory {self.image_path(host)} with a non-directory")
        os.unlink(host)

    def put_dir(self, parent: str, name: str, mode: int, mtime: int | None,
                owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        st = _lstat(host)
        if st is not None and stat.S_ISLNK(st.st_mode):
            if self.strict:
                raise self.err(f"refusing to replace the symlink {self.image_path(host)} with a directory")
            real = resolve_in_root(self.root, self.image_path(host))
            if os.path.isdir(real):
                host, st = real, os.lstat(real)
            else:
                os.unlink(host)
                st = None
        elif st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(host)
            st = None
        if st is None:
            os.mkdir(host, 0o700)
        self._defer_dir(host, mode, mtime, owner)
        return host

    def put_file(self, parent: str, name: str, src: BinaryIO, mode: int, mtime: int | None,
                 owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        self._clear(host)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(host, flags, 0o600), "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            self._fd_meta(out.fileno(), mode, mtime, owner, True)
        return host

    def put_symlink(self, parent: str, name: str, target: str, mtime: int | None,
                    owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        self._clear(host)
        os.symlink(target, host)
        self._link_meta(host, mtime, owner)
        return host

    def put_hardlink(self, parent: str, name: str, target_path: str) -> str:
        if self.strict:
            target = self._strict_path(target_path)
        else:
            target = resolve_in_root(self.root, target_path, follow_last=False)
        st = _lstat(target)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise self.err(f"hard link target {target_path} is not a regular file in the archive")
        host = os.path.join(parent, name)
        self._clear(host)
        os.link(target, host, follow_symlinks=False)
        return host

    def _owner_for(self, owner):
        return owner if (self.keep_owner and owner is not None) else self.owner

    def _mode_for(self, mode: int, override: bool) -> int:
        return stat.S_IMODE(self.chmod if (override and self.chmod is not None) else mode)

    def _link_meta(self, host: str, mtime: int | None, owner) -> None:
        """A symlink's own owner and times (lchown, lutimes), never its target's."""
        who = self._owner_for(owner)
        if who is not None:
            os.chown(host, *who, follow_symlinks=False)
        if mtime is not None and os.utime in os.supports_follow_symlinks:
            os.utime(host, ns=(mtime, mtime), follow_symlinks=False)

    def _fd_meta(self, fd: int, mode: int, mtime: int | None, owner, override: bool) -> None:
        who = self._owner_for(owner)
        if who is not None:
            os.fchown(fd, *who)          # before chmod: chown clears setuid bits
        os.fchmod(fd, self._mode_for(mode, override))
        if mtime is not None:
            os.utime(fd, ns=(mtime, mtime))

    def open_dir(self, host: str) -> int | None:
        """An fd of directory `host` (below root), opened one component at a
        time from root with O_NOFOLLOW; None if any component is no longer a
        real directory (the layer replaced it, e.g. by a symlink)."""
        rel = os.path.relpath(host, self.root)
        if rel == os.curdir:
            return os.open(self.root, _DIR_FLAGS)
        if rel.startswith(os.pardir):
            return None
        parts = rel.split(os.sep)
        fd = os.open(self.root, _WALK_FLAGS)
        try:
            for i, part in enumerate(parts):
                nxt = os.open(part, _DIR_FLAGS if i == len(parts) - 1 else _WALK_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EMLINK):
                return None     # FreeBSD says EMLINK for O_NOFOLLOW on a link
            raise
        return fd

    def finish(self) -> None:
        """Set the deferred directory modes and times: once per directory
        (the last entry naming it wins), deepest first, each through an fd
        reached without following any symlink, so a directory the layer
        replaced by a link to a host path is skipped, not followed."""
        last: dict[str, tuple] = {}
        for host, mode, mtime, owner, override in self._dirs:
            last.pop(host, None)
            last[host] = (mode, mtime, owner, override)
        self._dirs.clear()
        for host in sorted(last, key=lambda h: h.count(os.sep), reverse=True):
            fd = self.open_dir(host)
            if fd is None:
                continue
            try:
                self._fd_meta(fd, *last[host])
            finally:
                os.close(fd)


def _open_nofollow(path: str) -> BinaryIO:
    # The context may change under us: never read through a swapped-in symlink.
    return os.fdopen(os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_CLOEXEC), "rb")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


# --- archives ------------------------------------------------------------------

def _member_parts(name: str, err: type[JockerError]) -> list[str]:
    if name.startswith("/"):
        raise err(f"refusing archive member with an absolute path: {name}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise err(f"refusing archive member with a '..' component: {name}")
    return parts


def _extract_tar(fileobj: BinaryIO, writer: _Writer, dest: str) -> None:
    """Extract a (possibly compressed) tar stream into image path `dest`."""
    err = writer.err
    base = writer.ensure_dir(dest)
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for m in tar:
                parts = _member_parts(m.name, err)
                if not parts:
                    continue  # the archive's own "./"
                if not (m.isdir() or m.isreg() or m.issym() or m.islnk()):
                    raise err(f"refusing special file {m.name} in archive "
                              "(device nodes and fifos are not allowed)")
                path = posixpath.join(dest, *parts)
                parent = writer.ensure_dir(posixpath.dirname(path)) if len(parts) > 1 else base
                mtime, owner = int(m.mtime * 1_000_000_000), (m.uid, m.gid)
                if m.isdir():
                    writer.put_dir(parent, parts[-1], m.mode, mtime, owner)
                elif m.isreg():
                    writer.put_file(parent, parts[-1], tar.extractfile(m), m.mode, mtime, owner)
                elif m.issym():
                    writer.put_symlink(parent, parts[-1], m.linkname, mtime, owner)
                else:
                    target = posixpath.join(dest, *_member_parts(m.linkname, err))
                    writer.put_hardlink(parent, parts[-1], target)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise err(f"invalid tar archive: {e}") from e
    writer.finish()


def is_archive(path: str) -> bool:
    """True if `path` holds a tar archive (plain, gzip, bzip2 or xz), by content."""
    try:
        with open(path, "rb") as f:
            with tarfile.open(fileobj=f, mode="r|*") as tar:
                return tar.next() is not None
    except (OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError):
        return False


def _looks_like_archive(head: bytes) -> bool:
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


class _Prefixed(io.RawIOBase):
    """A stream that replays bytes already read, then reads on (for stdin)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[:len(data)] = data
        return len(data)


# --- URLs ------------------------------------------------------------------------
