"""One lock so concurrent jocker commands, and the threads of one server,
never corrupt shared state.

An `EngineLock` is an exclusive flock(2) on a file, for other processes,
together with a re-entrant mutex, for the other threads of this process.
Re-entrancy is per thread and per path, not per instance: every EngineLock on
the same path in a process shares one state, so a thread holding the lock
may take it again through another instance, and another thread waits.

Held only around short metadata changes (tags, names, snapshot creation,
garbage collection), never while a build step or a container runs.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager


class _PathState:
    def __init__(self):
        self.mutex = threading.RLock()
        self.depth = 0               # only touched by the thread holding mutex
        self.fd: int | None = None


_states: dict[str, _PathState] = {}
_states_guard = threading.Lock()


def _state(path: str) -> _PathState:
    key = os.path.abspath(path)
    with _states_guard:
        st = _states.get(key)
        if st is None:
            st = _states[key] = _PathState()
        return st


class EngineLock:
    def __init__(self, path: str):
        self.path = path
        self._st = _state(path)

    @contextmanager
    def held(self):
        st = self._st
        with st.mutex:
            if st.depth == 0:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                st.fd = fd
            st.depth += 1
            try:
                yield
            finally:
                st.depth -= 1
                if st.depth == 0 and st.fd is not None:
                    fd, st.fd = st.fd, None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)

    def owned(self) -> bool:
        """This thread holds the lock (for assertions in tests)."""
        st = self._st
        if not st.mutex.acquire(blocking=False):
            return False
        try:
            return st.depth > 0
        finally:
            st.mutex.release()
