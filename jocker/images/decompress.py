"""Decompressing a layer blob as a stream, by its content (not its media type).

zstd blobs go through the host's `zstd -dcq` as a child process reading the
blob file and writing a pipe we read: `zstd` is in FreeBSD base since 12.0
(usr.bin/zstd over contrib/zstd) and is Debian's `zstd` package, while
Python's standard library has no zstd before 3.14; py-zstandard
(archivers/py-zstandard) would have been one more dependency for one codec,
and the child runs on another core while Python applies and hashes the tar.
gzip and xz stay in Python (zlib, lzma): measured on the workbench, Python's
zlib reads a 40 MB gzip layer in 0.17 s where a `gzip -dc` pipe takes 0.7 s.

    with open_layer(runner, path, what) as plain:
        apply_layer(plain, root)

Corrupt data fails with one line naming `what`: at the end of the `with`
block for zstd (the command's exit status and words), on read otherwise.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import subprocess
import zlib
from contextlib import contextmanager
from typing import IO, Iterator

from ..errors import HostCommandError, JockerError

GZIP, ZSTD, XZ, BZIP2, NONE = "gzip", "zstd", "xz", "bzip2", "none"
# The one table of compression magic numbers (layer blobs, archives, rootfs tarballs).
_MAGIC = ((b"\x1f\x8b", GZIP), (b"\x28\xb5\x2f\xfd", ZSTD), (b"\xfd7zXZ\x00", XZ), (b"BZh", BZIP2))
_COMMAND = {ZSTD: ["zstd", "-dcq"]}
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
    if kind in (GZIP, XZ, BZIP2):
        try:
            with {GZIP: gzip.open, XZ: lzma.open, BZIP2: bz2.open}[kind](path, "rb") as plain:
                yield plain
        except (zlib.error, lzma.LZMAError, gzip.BadGzipFile, EOFError, OSError) as e:
            raise CorruptBlob(f"{what}: corrupt {kind} data: {e or 'truncated'}",
                              hint="the blob is damaged; remove the image and pull or load it again") from None
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
