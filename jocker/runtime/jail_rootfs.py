"""Reading and creating paths inside a container's rootfs without following symlinks.

The rootfs comes from an image, so any component may be a symlink that
points at the host: every walk goes one component at a time relative to a
directory fd with O_NOFOLLOW. (jail(8) refuses symlinked mount points for
the same reason: usr.sbin/jail/command.c check_path.)
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import JockerError
from .jail_mounts import container_path

# ---------------------------------------------------------------- safe rootfs access
# The rootfs comes from an image, so any component may be a symlink that
# points at the host. Walk it one component at a time relative to a
# directory fd, never following symlinks.

_SYMLINK_ERRNOS = (errno.ELOOP, errno.EMLINK)   # Linux ELOOP, FreeBSD EMLINK for O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _refuse(path: str, shown: str, why: str) -> JockerError:
    return JockerError(f"container path {path!r}: {shown} {why}; refusing to follow it")


def _walk(root: str, parts: list[str], *, create: bool, path: str) -> int:
    """Open the directory root/parts... and return its fd (caller closes)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                shown = "/" + "/".join(parts[:i + 1])
                if e.errno in _SYMLINK_ERRNOS or _is_link(part, fd):
                    raise _refuse(path, shown, "is a symlink inside the container") from None
                if e.errno == errno.ENOTDIR:
                    raise _refuse(path, shown, "is not a directory") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _parts(path: str) -> list[str]:
    return [p for p in container_path(path, "container path").split("/") if p]


def ensure_dir_nofollow(root: str, path: str) -> None:
    """mkdir -p root/path inside the rootfs without following any symlink."""
    os.close(_walk(root, _parts(path), create=True, path=path))


def ensure_file_nofollow(root: str, path: str) -> None:
    """Create an empty regular file at root/path (a single-file mount target)."""
    parts = _parts(path)
    fd = _walk(root, parts[:-1], create=True, path=path)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            ffd = os.open(parts[-1], flags, 0o644, dir_fd=fd)
        except OSError as e:
            if e.errno in _SYMLINK_ERRNOS or _is_link(parts[-1], fd):
                raise _refuse(path, path, "is a symlink inside the container") from None
            if e.errno == errno.EISDIR:
                raise _refuse(path, path, "is a directory but the mount source is a file") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(ffd).st_mode):
                raise _refuse(path, path, "is not a regular file")
        finally:
            os.close(ffd)
    finally:
        os.close(fd)


def read_file_nofollow(root: str, path: str, limit: int = 1 << 20) -> str | None:
    """Text of root/path if it is a regular file reached without symlinks, else None."""
    parts = _parts(path)
    try:
        fd = _walk(root, parts[:-1], create=False, path=path)
    except (OSError, JockerError):
        return None
    try:
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    with os.fdopen(ffd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit).decode("utf-8", "replace")


def exists_nofollow(root: str, path: str) -> bool:
    """Whether root/path exists (any type), its parent reached without symlinks."""
    parts = _parts(path)
    try:
        fd = _walk(root, parts[:-1], create=False, path=path)
    except (OSError, JockerError):
        return False
    try:
        os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
