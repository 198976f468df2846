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
import time


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
                    _bump(fd, taking=True)
                except BaseException:
                    os.close(fd)            # (closing the only descriptor drops the flock)
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
                    _bump(fd, taking=False)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        finally:
            st.mutex.release()


# The lock counts in its file (fixed width, written in place while held):
# every outermost take makes the count odd, every release even. A count read
# while the lock was free (even) and found one more under the reader's own
# hold means no holder came between, not even one killed while it held the
# lock (its take was counted, its release never is): a store read begun
# before taking the lock is then as good as one made under it.
_GEN_WIDTH = 20


def _read_count(fd: int) -> int | None:
    data = os.pread(fd, _GEN_WIDTH, 0)
    return int(data) if len(data) == _GEN_WIDTH and data.isdigit() else None


def _bump(fd: int, *, taking: bool) -> None:
    n = _read_count(fd)
    if n is None:
        # No count (a new file, an older jocker's, one dropped below): start
        # from the clock, above every count this file held before, so a count
        # read before never comes back.
        n = time.time_ns() & ~1
    n += 1 if (n % 2 == 0) == taking else 2     # taken: the next odd count; released: the next even
    try:
        os.pwrite(fd, b"%0*d" % (_GEN_WIDTH, n), 0)
    except OSError:
        # A full or over-quota file system: no count at all (no read is then
        # begun early or taken), never a stale one, and the command goes on.
        os.ftruncate(fd, 0)


class EngineLock:
    def __init__(self, path: str):
        self.path = path
        self._st = _state(path)

    def held(self) -> "_Held":
        """`with lock.held():` (a class, not contextlib: the supervisor imports this)."""
        return _Held(self)

    def generation(self) -> int | None:
        """The lock's count while it is free, read without taking it; None
        when it is held (or its holder died holding it), never taken, or
        unreadable. Compare under the lock with only_ours_since()."""
        n = self._count()
        return n if n is not None and n % 2 == 0 else None

    def only_ours_since(self, gen: int) -> bool:
        """Under this thread's hold: no holder but this one took the lock
        since generation() said gen (the count moved by our own take only)."""
        return self._count() == gen + 1

    def _count(self) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _read_count(fd)
        finally:
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
