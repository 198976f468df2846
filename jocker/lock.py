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

import _thread          # not threading: the FreeBSD supervisor path imports this module
import fcntl
import os


class _PathState:
    def __init__(self):
        self.mutex = _thread.RLock()
        self.depth = 0               # only touched by the thread holding mutex
        self.fd: int | None = None


_states: dict[str, _PathState] = {}
_states_guard = _thread.allocate_lock()


def _state(path: str) -> _PathState:
    key = os.path.abspath(path)
    with _states_guard:
        st = _states.get(key)
        if st is None:
            st = _states[key] = _PathState()
        return st


class _Held:
    __slots__ = ("lock",)

    def __init__(self, lock: "EngineLock"):
        self.lock = lock

    def __enter__(self):
        lk = self.lock
        st = lk._st
        st.mutex.acquire()
        try:
            if st.depth == 0:
                os.makedirs(os.path.dirname(lk.path) or ".", mode=0o700, exist_ok=True)   # holds attach sockets
                fd = os.open(lk.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                st.fd = fd
            st.depth += 1
        except BaseException:
            st.mutex.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        st = self.lock._st
        try:
            st.depth -= 1
            if st.depth == 0 and st.fd is not None:
                fd, st.fd = st.fd, None
                try:
                    _bump(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        finally:
            st.mutex.release()


# Every release of a lock counts one more in its file (fixed width, written in
# place while held), so a reader that read the count before some work and
# finds it unchanged under the lock knows no holder came between (a store
# read started before taking the lock is then as good as one made under it).
_GEN_WIDTH = 20


def _bump(fd: int) -> None:
    try:
        n = int(os.pread(fd, _GEN_WIDTH, 0) or b"0")
    except ValueError:
        n = 0
    os.pwrite(fd, b"%0*d" % (_GEN_WIDTH, n + 1), 0)


class EngineLock:
    def __init__(self, path: str):
        self.path = path
        self._st = _state(path)

    def held(self) -> "_Held":
        """`with lock.held():` (a class, not contextlib: the supervisor imports this)."""
        return _Held(self)

    def generation(self) -> int | None:
        """How many times the lock was released (None: unknown, never taken
        or unreadable). Read without taking it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            data = os.pread(fd, _GEN_WIDTH, 0)
        finally:
            os.close(fd)
        return int(data) if len(data) == _GEN_WIDTH and data.isdigit() else None

    def owned(self) -> bool:
        """This thread holds the lock (for assertions in tests)."""
        st = self._st
        if not st.mutex.acquire(blocking=False):
            return False
        try:
            return st.depth > 0
        finally:
            st.mutex.release()
