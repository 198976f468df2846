"""`run` starts its store read before the work that precedes it (the
supervisor's request; in the warm CLI's child, click's parsing too) and
takes it under the engine lock only when no other lock holder came between:
the lock counts its releases in its file."""

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


def _setenv(monkeypatch, env: dict) -> None:
    for k, v in env.items():
        if k.startswith("JOCKER_"):
            monkeypatch.setenv(k, v)


def test_an_early_read_is_adopted_by_the_engine_of_its_root(engine_config, jocker_env, busybox_image,
                                                            monkeypatch):
    """The warm CLI's child of a `run` starts the read before the engine
    exists; the engine of the same root and lock takes it (one `zfs get`)."""
    import jocker.engine as engine_mod
    _setenv(monkeypatch, jocker_env)
    runner = _Counting()
    eng = Engine(engine_config, runner)
    with eng.lock.held():
        pass
    engine_mod.begin_early_read()
    assert engine_mod._early is not None
    eng.prefetch_state()
    assert engine_mod._early is None
    with eng.lock.held():
        st = eng.load_state()
    assert runner.gets == 0 and st.resolve(busybox_image)      # the early read, not a new one


def test_an_early_read_of_another_root_is_stopped_not_used(engine_config, jocker_env, busybox_image,
                                                           monkeypatch):
    import jocker.engine as engine_mod
    _setenv(monkeypatch, jocker_env)
    monkeypatch.setenv("JOCKER_DATASET", jocker_env["JOCKER_DATASET"].split("/")[0])    # the pool itself
    eng = Engine(engine_config, _Counting())
    with eng.lock.held():
        pass
    engine_mod.begin_early_read()
    assert engine_mod._early is not None
    early_pid = engine_mod._early[3].proc.pid
    assert early_pid in _children()
    eng.prefetch_state()                                # not its root: killed and reaped
    assert engine_mod._early is None and early_pid not in _children()
    assert not os.path.exists(f"/proc/{early_pid}")
    with eng.lock.held():
        st = eng.load_state()
    assert eng.runner.gets == 1 and st.resolve(busybox_image)     # its own read, taken under the lock


def test_a_served_run_sees_what_was_tagged_just_before(jocker, jocker_env, busybox_image, tmp_path):
    """End to end through the warm CLI: a tag made by another command right
    before a served `run` is what that run resolves (its early read is
    dropped when a lock holder came between, or started after the tag)."""
    import subprocess
    import sys
    warm = {**jocker.env, "JOCKER_WARM_CLI_IDLE": "60"}
    run = [sys.executable, "-m", "jocker", "run", "--rm"]
    subprocess.run(run + [busybox_image, "true"], env=warm, check=True)
    try:
        for i in range(3):
            jocker("tag", busybox_image, f"early-{i}:latest")
            trace = tmp_path / f"trace-{i}"
            r = subprocess.run(run + [f"early-{i}:latest", "echo", f"ran {i}"],
                               env={**warm, "JOCKER_TRACE": str(trace)}, capture_output=True, text=True)
            assert (r.returncode, r.stdout) == (0, f"ran {i}\n"), r.stderr
            gets = [line for line in trace.read_text().splitlines() if "\tzfs get -Hp -r " in line]
            assert len(gets) == 1, gets                 # the early read was the run's one read
    finally:
        for i in range(3):
            jocker("rmi", f"early-{i}:latest", check=False)
        from jocker.forkbase import lock_held
        lock = os.path.join(jocker_env["JOCKER_RUNDIR"], "warmcli.lock")
        if lock_held(lock):
            os.kill(int(open(lock).read().strip()), 9)
