"""Decompressing a layer blob as a stream, by its content (not its media type).

gzip and zstd blobs go through the host's `gzip -dc` / `zstd -dc` as a child
process reading the blob file and writing a pipe we read: the decompression
runs on another core while Python applies the tar and hashes it, which is
what a pull spends its time on. Both commands are in FreeBSD base (`gzip`,
and `zstd` since FreeBSD 12: usr.bin/zstd over contrib/zstd) and in Debian
(`gzip`, `zstd`). zstd is the reason for the child process: Python's standard
library has no zstd before 3.14, and the command keeps the port's dependency
list at click and jinja2 (py-zstandard, archivers/py-zstandard, would have
been one more package for one codec). xz (FreeBSD's release `.txz`) is rare
for layers and stays in Python's lzma.

    with open_layer(runner, path, what) as plain:
        apply_layer(plain, root)

The `with` block fails with one line naming `what` when the command exits
non-zero (corrupt or truncated data) once the reader has read to the end.
"""

from __future__ import annotations

import lzma
import subprocess
from contextlib import contextmanager
from typing import IO, Iterator

from ..errors import HostCommandError, JockerError

GZIP, ZSTD, XZ, NONE = "gzip", "zstd", "xz", "none"
_MAGIC = ((b"\x1f\x8b", GZIP), (b"\x28\xb5\x2f\xfd", ZSTD), (b"\xfd7zXZ\x00", XZ))
_COMMAND = {GZIP: ["gzip", "-dc"], ZSTD: ["zstd", "-dcq"]}
PIPE_BUF = 1 << 20


class CorruptBlob(JockerError):
    """Compressed data the decompressor refused."""


def sniff(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return NONE


@contextmanager
def open_layer(runner, path: str, what: str) -> Iterator[IO[bytes]]:
    """The uncompressed bytes of the blob at `path` as a readable stream."""
    with open(path, "rb") as f:
        kind = sniff(f.read(8))
    if kind == NONE:
        with open(path, "rb") as plain:
            yield plain
        return
    if kind == XZ:
        try:
            with lzma.open(path, "rb") as plain:
                yield plain
        except lzma.LZMAError as e:
            raise CorruptBlob(f"{what}: corrupt xz data: {e}") from None
        return
    argv = [*_COMMAND[kind], "--", path]
    try:
        proc = runner.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=PIPE_BUF)
    except HostCommandError as e:
        raise JockerError(f"{what}: cannot decompress a {kind} layer: {argv[0]} is missing",
                          hint=f"install {argv[0]} (FreeBSD base; Debian package {argv[0]})") from e
    try:
        yield proc.stdout
    except BaseException:
        code, err = _finish(proc)
        if code > 0 and err:            # the decompressor's complaint is the cause
            raise CorruptBlob(f"{what}: corrupt {kind} data: {err.splitlines()[-1]}",
                              hint="the blob is damaged; remove the image and pull or load it again") from None
        raise
    code, err = _finish(proc)
    if code != 0:
        last = err.splitlines()[-1] if err else f"{argv[0]} exited {code}"
        raise CorruptBlob(f"{what}: corrupt {kind} data: {last}",
                          hint="the blob is damaged; remove the image and pull or load it again")


def _finish(proc) -> tuple[int, str]:
    """Close our end (a child still writing gets SIGPIPE), reap, and return
    (exit code, stderr)."""
    proc.stdout.close()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    return code, err
