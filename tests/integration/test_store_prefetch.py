"""`run` starts its store read before the work that precedes it (the
supervisor's request) and takes it under the engine lock only when no other
lock holder came between: the lock counts its releases in its file."""

from __future__ import annotations

import os

from jocker.engine import Engine
from jocker.host.runner import Runner
from jocker.lock import EngineLock


def test_the_lock_counts_each_outermost_release(tmp_path):
    path = str(tmp_path / "engine.lock")
    lk = EngineLock(path)
    assert lk.generation() is None                  # never taken
    with lk.held():
        with EngineLock(path).held():               # re-entered: one release counted
            pass
    first = lk.generation()
    with lk.held():
        assert lk.generation() == first             # held: not counted yet
    assert lk.generation() == first + 1


class _Counting(Runner):
    def __init__(self):
        super().__init__()
        self.gets = 0

    def _begin(self, argv, *a, **kw):
        if argv[1:2] == ["get"]:
            self.gets += 1
        return super()._begin(argv, *a, **kw)


def _children() -> set[int]:
    me = os.getpid()
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        out.add(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_prefetched_read_is_taken_when_nobody_locked_between(engine_config, busybox_image):
    runner = _Counting()
    eng = Engine(engine_config, runner)
    with eng.lock.held():
        pass                                        # the lock file has a count
    eng.prefetch_state()
    with eng.lock.held():
        st = eng.load_state()
    assert runner.gets == 1 and st.resolve(busybox_image)


def test_a_lock_holder_between_means_a_fresh_read_that_sees_its_change(engine_config, busybox_image):
    runner = _Counting()
    eng = Engine(engine_config, runner)
    with eng.lock.held():
        pass
    eng.prefetch_state()
    other = Engine(engine_config, Runner())          # another command, between
    image = other.load_state().resolve(busybox_image)
    other.store.tag(image, ["prefetch-seen:latest"])      # takes the lock
    try:
        with eng.lock.held():
            st = eng.load_state()
        assert runner.gets == 2                     # the prefetched read was dropped
        assert st.resolve("prefetch-seen:latest").id == image.id
    finally:
        img = other.load_state().resolve(busybox_image)
        other.store.write_tags(img, {t: w for t, w in img.tags.items() if t != "prefetch-seen:latest"})


def test_a_prefetch_not_taken_is_reaped(engine_config):
    eng = Engine(engine_config, Runner())
    with eng.lock.held():
        pass
    before = _children()
    eng.prefetch_state()
    assert _children() - before                     # the read runs
    eng.drop_prefetch()
    assert not _children() - before                 # killed and reaped: no zombie
    eng.drop_prefetch()                             # twice: nothing
