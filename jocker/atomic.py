"""Atomic file writes: a reader sees the old content or the new, never half.
Small on purpose (os only): the supervisor imports it."""

from __future__ import annotations

import _thread
import json
import os


def write_atomic(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write to a temporary name unique to this process and thread, then
    rename over path."""
    tmp = f"{path}.{os.getpid()}.{_thread.get_ident()}.tmp"
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_stream_atomic(path: str, write) -> None:
    """write(f) fills a file that appears at path only complete (written
    beside, renamed): `save -o`, `export -o`."""
    tmp = f"{path}.{os.getpid()}.{_thread.get_ident()}.tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str, obj, mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(obj), mode)
