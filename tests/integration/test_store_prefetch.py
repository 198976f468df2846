"""`run` starts its store read before the work that precedes it (the
supervisor's request; in the warm CLI's child, click's parsing too) and
takes it under the engine lock only when no other lock holder came between:
the lock counts its takes and releases in its file."""

from __future__ import annotations

import os
import sys

import pytest

from jocker.engine import Engine
from jocker.host.runner import Runner
from jocker.lock import EngineLock


def test_the_lock_counts_each_outermost_take_and_release(tmp_path):
    path = str(tmp_path / "engine.lock")
    lk = EngineLock(path)
    assert lk.generation() is None                  # never taken
    with lk.held():
        with EngineLock(path).held():               # re-entered: one take, one release counted
            pass
    first = lk.generation()
    with lk.held():
        assert lk.generation() is None              # held: no count to start a read on
        assert lk.only_ours_since(first)            # the count moved by this take alone
    assert lk.generation() == first + 2
    with lk.held():
        assert not lk.only_ours_since(first)        # a holder came between
    last = lk.generation()
    os.truncate(path, 0)                            # dropped (a write that failed), or an older jocker's file
    with lk.held():
        pass
    assert lk.generation() > last                   # a count read before never comes back


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_a_begun_command_runs_to_its_end_with_nobody_reading(tmp_path):
    """A store read prints ~100-250 KB; begun early, nobody reads its pipe
    until the lock is taken, and a 64 KB pipe stopped it a quarter of the
    way (so little of it overlapped anything). The pipe is widened: it
    finishes on its own."""
    done = tmp_path / "done"
    runner = Runner()
    pending = runner.begin([sys.executable, "-c", "import sys; sys.stdout.write('x' * 300000); "
                            f"sys.stdout.flush(); open({str(done)!r}, 'w').close()"])
    import time
    deadline = time.monotonic() + 20
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    finished = done.exists()
    res = runner.finish(pending)
    assert finished and len(res.stdout) == 300000


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



# Another command: it takes the lock, and once told writes a property of the
# store's root (the first dataset `zfs get -r` prints) and is killed
# (SIGKILL: the OOM killer, kill -9) before it releases the lock.
_KILLED_HOLDER = r"""
import os, sys
from jocker.engine import Engine
eng = Engine()
with eng.lock.held():
    print("held", flush=True)
    sys.stdin.readline()
    eng.zfs.set_props(eng.layout.root, {"jocker:layer.source": "written-then-killed"})
    os.kill(os.getpid(), 9)
"""


def _past_root(proc) -> bool:
    """The read has printed the root's properties (the first it prints, in
    its first buffer): output waits in its pipe, or it ended."""
    import fcntl
    import termios
    waiting = fcntl.ioctl(proc.stdout, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(waiting, sys.byteorder) > 0 or proc.poll() is not None


def test_a_holder_killed_while_holding_means_a_fresh_read(engine_config, jocker_env):
    """A command killed while it held the lock (its write done, its release
    never counted): a read begun while it held the lock is not as good as one
    made under the lock after it, which sees its write."""
    import _thread
    import subprocess
    import sys
    import time
    eng = Engine(engine_config, _Counting())
    root = eng.layout.root
    with eng.lock.held():
        pass
    holder = subprocess.Popen([sys.executable, "-c", _KILLED_HOLDER], env=jocker_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        eng.prefetch_state()                        # begun while the other command holds the lock
        pre = eng._prefetched.get(_thread.get_ident())
        while pre is not None and not _past_root(pre[1].proc):
            time.sleep(0.005)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.wait() == -9
        with eng.lock.held():
            st = eng.load_state()
        assert st.datasets[root].get("jocker:layer.source") == "written-then-killed"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        eng.drop_prefetch()
        Runner().run(["zfs", "inherit", "jocker:layer.source", root])


@pytest.fixture
def full_rundir(tmp_path):
    """A run directory on a full file system (a one-page tmpfs, filled), with
    the empty lock file an older jocker left there."""
    import subprocess
    mnt = tmp_path / "run"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=0700", f"jocker-full-{os.getpid()}",
                           str(mnt)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"needs a tmpfs mount (root): {made.stderr.strip()}")
    try:
        (mnt / "lock").touch(mode=0o600)
        (mnt / "fill").write_bytes(b"x" * 4096)
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_run_directory_fails_no_locked_command(jocker_env, busybox_image, full_rundir):
    """The count is bookkeeping for an optimisation: a run directory where it
    cannot be written (full, over quota) fails no command, as before the
    count existed, and leaves no count a read could be started on."""
    from jocker import config as config_mod
    eng = Engine(config_mod.load(environ={**jocker_env, "JOCKER_RUNDIR": full_rundir}), Runner())
    img = eng.load_state().resolve(busybox_image)
    try:
        eng.store.tag(img, ["full-rundir:latest"])          # takes and releases the engine lock
        assert eng.load_state().resolve("full-rundir:latest").id == img.id
        assert eng.lock.generation() is None
    finally:
        img = eng.load_state().resolve(busybox_image)
        eng.store.write_tags(img, {t: w for t, w in img.tags.items() if t != "full-rundir:latest"})
