"""The container's log: Docker's json-file lines, written by the supervisor
from the container's stdout and stderr, never fatal when the disk is full."""

from __future__ import annotations

import json
import os

from ..times import now_rfc3339

LINE_LIMIT = 16 * 1024


class LogWriter:
    """Docker json-file lines: {"log": "...\\n", "stream": "stdout", "time": ...}.

    A write that fails (a full pool: ENOSPC, EDQUOT, EIO) is never fatal:
    the supervisor and its container outlive it. Lines wait in a bounded
    backlog retried with every new line; `failed` counts failed writes and
    `dropped` the lines given up once the backlog is full."""

    BACKLOG = 1 << 20

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.partial = {"stdout": b"", "stderr": b""}
        self.pending = bytearray()
        self.failed = 0
        self.dropped = 0

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial[stream] + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            self._emit(stream, buf[:nl + 1])
            buf = buf[nl + 1:]
        if len(buf) > LINE_LIMIT:
            self._emit(stream, buf)
            buf = b""
        self.partial[stream] = buf

    def flush(self) -> None:
        for stream, buf in self.partial.items():
            if buf:
                self._emit(stream, buf)
                self.partial[stream] = b""

    def _emit(self, stream: str, data: bytes) -> None:
        line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                           "time": now_rfc3339()}).encode() + b"\n"
        if len(self.pending) + len(line) > self.BACKLOG:
            self.dropped += 1
        else:
            self.pending += line
        self._drain()

    def _drain(self) -> None:
        while self.pending:
            try:
                n = os.write(self.fd, self.pending)
            except InterruptedError:
                continue
            except OSError:
                self.failed += 1
                return
            del self.pending[:n]
