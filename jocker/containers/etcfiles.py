"""/etc/hosts, /etc/resolv.conf and /etc/hostname for a container: copied in,
not bind-mounted (pkg fails with "cross-device link" on nullfs-mounted files).
Written without following symlinks: the image must not be able to redirect
these writes onto the host."""

from __future__ import annotations

import os
import stat

from ..errors import JockerError
from ..runtime.spec import ContainerSpec


def _etc_fd(rootfs: str) -> int:
    root = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            st = os.stat("etc", dir_fd=root, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise JockerError(f"the image's /etc is not a directory (a symlink?): {rootfs}/etc")
        except FileNotFoundError:
            os.mkdir("etc", 0o755, dir_fd=root)
        return os.open("etc", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root)
    finally:
        os.close(root)


def _write(etc: int, name: str, text: str) -> None:
    try:
        st = os.stat(name, dir_fd=etc, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            os.unlink(name, dir_fd=etc)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=etc)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def hosts_text(hostname: str) -> str:
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.1.1\t{hostname}\n")


def resolv_text() -> str:
    try:
        lines = open("/etc/resolv.conf").read().splitlines()
    except OSError:
        return ""
    # A host resolver on loopback is unreachable from a container with its own stack.
    return "\n".join(l for l in lines if l.strip() and not l.startswith("#")) + "\n"


def write_file(rootfs: str, name: str, text: str) -> None:
    """One file of the container's /etc, written without following symlinks."""
    etc = _etc_fd(rootfs)
    try:
        _write(etc, name, text)
    finally:
        os.close(etc)


def read_file(rootfs: str, name: str) -> str:
    etc = _etc_fd(rootfs)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=etc)
        with os.fdopen(fd) as f:
            return f.read(65536)
    except OSError:
        return ""
    finally:
        os.close(etc)


def prepare(spec: ContainerSpec, container_dir: str, *, hosts: str | None = None,
            resolv: str | None = None) -> None:
    """hosts/resolv: the network's versions (jocker.net.hosts); by default the
    host-network ones."""
    etc = _etc_fd(spec.rootfs)
    try:
        _write(etc, "hostname", spec.hostname + "\n")
        _write(etc, "hosts", hosts if hosts is not None else hosts_text(spec.hostname))
        _write(etc, "resolv.conf", resolv if resolv is not None else resolv_text())
    finally:
        os.close(etc)
