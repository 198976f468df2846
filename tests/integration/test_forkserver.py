"""The fork-server of supervisors (jocker/containers/forkserver.py), end to
end: the first start leaves one behind in the run directory; later starts
get a supervisor forked from it (not an exec'd interpreter) that holds none
of the server's descriptors and is not its child; a killed server means one
exec'd supervisor and a new server; an idle server exits; 0 turns it off."""

from __future__ import annotations

import json
import os
import signal
import stat
import time


def _cmdline(pid) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").replace("\0", " ")
    except OSError:
        return ""


def _servers(rundir: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()
            and "jocker.containers.forkserver import main" in _cmdline(p) and rundir in _cmdline(p)]


def _ppid(pid) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _is_server(pid: int, rundir: str) -> bool:
    """The server itself, not a supervisor it forked (which shares its command
    line): the server holds the lock file open."""
    return any(t.endswith("/forkserver.lock") for t in _fd_targets(pid).values())


def _fd_targets(pid) -> dict[str, str]:
    out = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    except OSError:
        pass
    return out


def _server(rundir: str) -> int | None:
    found = [p for p in _servers(rundir) if _is_server(p, rundir)]
    return found[0] if found else None


def _kill_servers(rundir: str, wait_for) -> None:
    for pid in _servers(rundir):
        if _is_server(pid, rundir):
            os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: _server(rundir) is None, 10)


def _supervisor_pid(rundir: str, cid: str) -> int:
    with open(os.path.join(rundir, cid, "supervisor.json")) as f:
        return int(json.load(f)["pid"])


def test_later_starts_fork_a_supervisor_that_keeps_nothing_of_the_server(jocker, busybox_image, cleanup,
                                                                          jocker_env, wait_for):
    rundir = jocker_env["JOCKER_RUNDIR"]
    jocker("run", "--rm", busybox_image, "true")        # leaves a server behind (unless one runs)
    assert wait_for(lambda: _server(rundir) is not None, 15)
    server = _server(rundir)
    st = os.stat(os.path.join(rundir, "forkserver.sock"))
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o077 == 0
    cleanup += ["fs-forked"]
    cid = jocker("run", "-d", "--name", "fs-forked", busybox_image, "sleep", "300").stdout.strip()
    pid = _supervisor_pid(rundir, cid)
    assert "jocker.containers.forkserver" in _cmdline(pid)       # forked from the warm server
    # the environment an exec'd supervisor gets: this jocker first on PYTHONPATH
    env = dict(kv.split("=", 1) for kv in open(f"/proc/{pid}/environ").read().split("\0") if "=" in kv)
    import jocker as pkg
    assert env["PYTHONPATH"].split(os.pathsep)[0] == os.path.dirname(os.path.dirname(pkg.__file__))
    assert _ppid(pid) != server                                  # re-parented: init reaps it
    theirs = set(_fd_targets(server).values())
    mine = _fd_targets(pid)
    assert not any(t.endswith(("/forkserver.lock", "/forkserver.sock")) for t in mine.values()), mine
    assert not {t for t in mine.values() if t.startswith("socket:")} & theirs
    assert mine.get("0") == "/dev/null" and mine["2"].endswith("/supervisor.err")
    # the server's lock stays the server's: with it gone, nobody holds it
    _kill_servers(rundir, wait_for)
    from jocker.containers import forkserver
    assert not forkserver.running(rundir)
    # and the forked supervisor does its job: logs, a stop, the exit status
    assert jocker("exec", "fs-forked", "sh", "-c", "echo from-exec").stdout == "from-exec\n"
    jocker("stop", "-t", "1", "fs-forked")
    state = json.loads(jocker("inspect", "fs-forked").stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137     # sleep as PID 1 ignores SIGTERM


def test_a_dead_server_means_one_exec_and_a_new_server(jocker, busybox_image, cleanup, jocker_env, wait_for):
    rundir = jocker_env["JOCKER_RUNDIR"]
    jocker("run", "--rm", busybox_image, "true")
    assert wait_for(lambda: _server(rundir) is not None, 15)
    old = _server(rundir)
    os.kill(old, signal.SIGKILL)                 # crashed: its socket file stays, refusing
    assert wait_for(lambda: _server(rundir) is None, 10)
    assert os.path.exists(os.path.join(rundir, "forkserver.sock"))
    cleanup += ["fs-fallback"]
    cid = jocker("run", "-d", "--name", "fs-fallback", busybox_image, "sleep", "300").stdout.strip()
    pid = _supervisor_pid(rundir, cid)
    assert "jocker.containers.supervisor import main" in _cmdline(pid)    # exec'd, as before
    assert wait_for(lambda: _server(rundir) not in (None, old), 15)     # and replaced
    assert jocker("run", "--rm", busybox_image, "echo", "again").stdout == "again\n"


def test_an_idle_server_exits_and_zero_turns_it_off(jocker, busybox_image, jocker_env, wait_for):
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_servers(rundir, wait_for)
    jocker("run", "--rm", busybox_image, "true", env={"JOCKER_FORKSERVER_IDLE": "1"})
    assert wait_for(lambda: _server(rundir) is not None, 15)
    assert wait_for(lambda: _server(rundir) is None, 15)        # one idle second, checked every second
    assert not os.path.exists(os.path.join(rundir, "forkserver.sock"))
    jocker("run", "--rm", busybox_image, "true", env={"JOCKER_FORKSERVER_IDLE": "0"})
    time.sleep(1.0)
    assert _server(rundir) is None


def test_containers_get_the_callers_limits_and_nice_not_the_servers(jocker, busybox_image, jocker_env,
                                                                    wait_for):
    """A server left behind by a command with a low open-files limit and a
    high nice value must not hand them to the containers later commands
    start: it forks only for callers whose limits, nice and cgroup are its
    own, and the others exec their supervisor."""
    import resource
    import subprocess
    import sys
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_servers(rundir, wait_for)

    def constrained():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        os.nice(15)
    subprocess.run([sys.executable, "-m", "jocker", "run", "--rm", busybox_image, "true"],
                   env=jocker.env, preexec_fn=constrained, check=True, capture_output=True)
    assert wait_for(lambda: _server(rundir) is not None, 15)
    with open(f"/proc/{_server(rundir)}/limits") as f:
        assert any(line.startswith("Max open files") and " 256 " in line for line in f)
    mine = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    out = jocker("run", "--rm", busybox_image, "sh", "-c",
                 "ulimit -n; cut -d' ' -f19 /proc/self/stat").stdout.split()
    assert out == [str(mine), str(os.getpriority(os.PRIO_PROCESS, 0))], out


def test_run_gets_its_supervisor_forked_ahead_and_a_failed_create_leaves_none(jocker, busybox_image, cleanup,
                                                                             jocker_env, wait_for, engine):
    """`run` asks the server for its supervisor before the clone is made
    (job "-": the path comes through a pipe once the container exists); when
    the create fails, the waiting supervisor gets EOF and is gone."""
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_servers(rundir, wait_for)         # one of an earlier test may have other limits: it refuses us
    jocker("run", "--rm", busybox_image, "true")
    assert wait_for(lambda: _server(rundir) is not None, 15)
    cleanup += ["fs-ahead"]
    cid = jocker("run", "-d", "--name", "fs-ahead", busybox_image, "sleep", "300").stdout.strip()
    pid = _supervisor_pid(rundir, cid)
    assert "jocker.containers.forkserver" in _cmdline(pid)
    mine = _fd_targets(pid)
    assert mine.get("0") == "/dev/null" and mine["1"].endswith(f"/{cid}/supervisor.err")

    def waiting() -> list[int]:
        return [p for p in _servers(rundir) if not _is_server(p, rundir) and p != pid]
    before = set(waiting())
    # A long-lived caller (the API server's engine): its end of the job
    # pipe stays open unless the failed run closes it.
    import pytest
    from jocker.engine_api import CreateRequest, JockerAPI
    from jocker.errors import CONFLICT, JockerError
    assert engine.layout.rundir == rundir
    with pytest.raises(JockerError) as info:
        JockerAPI(engine).containers.run(CreateRequest.from_api({"Image": busybox_image, "Cmd": ["true"]},
                                                                name="fs-ahead"), detach=True)
    assert info.value.kind == CONFLICT
    assert wait_for(lambda: not set(waiting()) - before, 10), "a supervisor forked ahead still waits"
    assert jocker("run", "--rm", busybox_image, "echo", "after").stdout == "after\n"


def test_attached_start_sets_up_early_and_undoes_it_when_the_client_never_comes(engine, busybox_image, cleanup,
                                                                                wait_for):
    """An attached start's supervisor makes the network while its client
    connects, but starts nothing until it has; a client that dies first
    leaves the container Created and nothing of its network on the host."""
    from jocker.containers import lifecycle as L
    from jocker.containers.create import create_container
    from jocker.engine_api import CreateRequest
    from jocker.net import naming
    cleanup.append("fs-noclient")
    c = create_container(engine, CreateRequest.from_api({"Image": busybox_image, "Cmd": ["true"]},
                                                        name="fs-noclient"))
    c = L.get(engine, c.id)
    spec = L.runtime_spec(engine, c)
    os.makedirs(spec.rundir, exist_ok=True)
    job_path = os.path.join(spec.rundir, "job.json")
    L._job(engine, c, spec, True).save(job_path)
    proc, ready = L.supervise(engine, spec.rundir, job_path)
    assert ready.readline().split() == ["listening"]
    netns = os.path.join("/run/netns", naming.netns_name(engine.config.values["network_prefix"], c.id))
    assert wait_for(lambda: os.path.exists(netns), 10), "the network is made while the client connects"
    ready.close()                                   # the starter dies before connecting
    proc.wait()
    assert not os.path.exists(netns)
    assert L.get(engine, c.id).status == "created"


def test_a_run_whose_start_fails_before_its_lock_leaves_no_supervisor_waiting(jocker, busybox_image, cleanup,
                                                                             jocker_env, wait_for, engine,
                                                                             monkeypatch):
    """A long-lived caller (the API server) whose run fails in start() before
    the start lock (making the runtime spec) cancels the supervisor forked
    ahead: it does not wait forever on a job pipe the caller keeps open."""
    import pytest
    from jocker.containers import lifecycle as L
    from jocker.engine_api import CreateRequest, JockerAPI
    from jocker.errors import JockerError
    rundir = jocker_env["JOCKER_RUNDIR"]
    jocker("run", "--rm", busybox_image, "true")
    assert wait_for(lambda: _server(rundir) is not None, 15)
    early = []
    orig = L.prespawn_supervisor
    monkeypatch.setattr(L, "prespawn_supervisor", lambda eng: early.append(orig(eng)) or early[-1])

    def broken_spec(eng, c):
        raise JockerError("no spec for you")
    monkeypatch.setattr(L, "runtime_spec", broken_spec)
    cleanup.append("fs-nospec")
    with pytest.raises(JockerError, match="no spec for you"):
        JockerAPI(engine).containers.run(CreateRequest.from_api({"Image": busybox_image, "Cmd": ["true"]},
                                                                name="fs-nospec"), detach=True)
    assert early and early[0] is not None
    assert early[0].job_w == -1, "the job pipe's write end is still open in the caller"
    pid = early[0].proc.pid
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _cmdline(pid) == "", 10), \
        "the supervisor forked ahead still waits"


def test_a_supervisor_forked_ahead_that_died_is_replaced_at_hand_over(jocker, busybox_image, cleanup,
                                                                      jocker_env, wait_for, engine, monkeypatch):
    """The supervisor asked for ahead is killed before it gets its job (OOM,
    an admin): the run starts one the usual way instead of failing with a
    broken pipe."""
    from jocker.containers import lifecycle as L
    from jocker.engine_api import CreateRequest, JockerAPI
    rundir = jocker_env["JOCKER_RUNDIR"]
    jocker("run", "--rm", busybox_image, "true")
    assert wait_for(lambda: _server(rundir) is not None, 15)
    orig = L.prespawn_supervisor
    killed = []

    def prespawn(eng):
        early = orig(eng)
        if early is not None and early._forked():
            os.kill(early.proc.pid, signal.SIGKILL)
            assert wait_for(lambda: not os.path.exists(f"/proc/{early.proc.pid}"), 10)
            killed.append(early.proc.pid)
        return early
    monkeypatch.setattr(L, "prespawn_supervisor", prespawn)
    cleanup.append("fs-killed-ahead")
    cid, _ = JockerAPI(engine).containers.run(
        CreateRequest.from_api({"Image": busybox_image, "Cmd": ["sleep", "300"]}, name="fs-killed-ahead"),
        detach=True)
    assert killed
    assert L.get(engine, cid).status == "running"


def test_a_supervisor_that_cannot_be_started_ahead_leaves_no_descriptor(engine, monkeypatch):
    """The exec of a supervisor asked ahead fails (fork refused: EAGAIN under
    a pids limit): the long-lived caller (the API server) keeps none of the
    job and ready pipes."""
    import errno
    import pytest
    from jocker.containers import lifecycle as L

    def refused(*a, **kw):
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
    monkeypatch.setattr(engine.config, "int", lambda key, _orig=engine.config.int: 0
                        if key == "forkserver_idle" else _orig(key))
    monkeypatch.setattr(engine.runner, "spawn", refused)
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(BlockingIOError):
            L.prespawn_supervisor(engine)
    assert sorted(os.listdir("/proc/self/fd")) == before
