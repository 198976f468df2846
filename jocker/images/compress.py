"""Compressing a layer tar into a blob: the counterpart of decompress.py.

gzip stays in Python's zlib (mtime 0 and no file name in the header, so the
same tar at the same level gives the same bytes). zstd goes through the
host's `zstd -q -c -<level>` (FreeBSD base since 12.0, Debian's `zstd`
package; why a command and not a library: decompress.py), started by the
runner with the tar written to its stdin while a thread copies its stdout
into the blob, so compressing runs on a second core.

    with compressor(runner, ZSTD, level, blob_writer, what) as out:
        out.write(tar bytes)

A missing `zstd` is one line naming the package, raised before anything is
written; a `zstd` that fails is one line with its last words.
"""

from __future__ import annotations

import gzip
import subprocess
import threading
from contextlib import contextmanager
from typing import IO, Iterator

from ..errors import HostCommandError, JockerError, UsageError
from .decompress import GZIP, PIPE_BUF, ZSTD

FORMATS = (GZIP, ZSTD)
# format: (lowest, highest, default) level; zstd above 19 needs --ultra and
# hundreds of MB of memory per stream: not offered.
LEVELS = {GZIP: (1, 9, 6), ZSTD: (1, 19, 3)}
MEDIA_TYPE = {GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
              ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd"}


def check(fmt: str, level: int | None) -> None:
    """A compression format and level a push can make, or a one-line UsageError."""
    if fmt not in FORMATS:
        raise UsageError(f"invalid compression format {fmt!r}: expected one of {', '.join(FORMATS)}",
                         hint="e.g. --compression-format zstd")
    low, high, _ = LEVELS[fmt]
    if level is not None and not low <= level <= high:
        raise UsageError(f"invalid {fmt} compression level {level}: expected {low} to {high}")


@contextmanager
def compressor(runner, fmt: str, level: int | None, sink, what: str) -> Iterator[IO[bytes]]:
    """A writable stream whose bytes reach sink (a .write()able) compressed."""
    level = LEVELS[fmt][2] if level is None else level
    if fmt == GZIP:
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, filename="", compresslevel=level) as gz:
            yield gz        # type: ignore[misc]
        return
    argv = ["zstd", "-q", "-c", f"-{level}"]
    try:
        proc = runner.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=PIPE_BUF)
    except HostCommandError:
        raise JockerError(f"{what}: cannot compress with zstd: the zstd command is not installed",
                          hint="install it (FreeBSD base has it; Debian/Ubuntu: apt-get install zstd)") from None
    failed: list[BaseException] = []

    def drain() -> None:
        try:
            while True:
                data = proc.stdout.read(PIPE_BUF)
                if not data:
                    break
                sink.write(data)
        except BaseException as e:      # noqa: BLE001 (reported by the caller's thread)
            failed.append(e)
            proc.kill()

    reader = threading.Thread(target=drain, name="zstd-out", daemon=True)
    reader.start()
    try:
        try:
            yield proc.stdin
            proc.stdin.close()
        except BrokenPipeError:
            pass                        # zstd died: its exit status says why
        except BaseException:
            proc.kill()
            raise
    finally:
        if not proc.stdin.closed:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        reader.join()
        code = proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stdout.close()
        proc.stderr.close()
    if failed:
        raise failed[0]
    if code != 0:
        last = err.splitlines()[-1] if err else f"exit status {code}"
        raise JockerError(f"{what}: zstd failed: {last}")
