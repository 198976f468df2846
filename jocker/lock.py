"""One lock so concurrent jocker commands never corrupt shared state.

Held only around short metadata changes (tags, names, snapshot creation,
garbage collection), never while a build step or a container runs.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager


class EngineLock:
    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def held(self):
        if self._depth == 0:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)   # holds attach sockets
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
