"""The warm CLI (jocker/warm/): the first eligible command leaves a server
behind in the run directory; the next ones are forked from it and behave
exactly as local ones (output, exit status, cwd, signals); anything it cannot
serve the same way (another process context, changed code, no server behind
the socket) runs locally and still right. The rest of the suite runs with
the warm CLI off (conftest.py), so these tests turn it on themselves."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from jocker.warm.server import SPARE_COMM

WARM = {"JOCKER_WARM_CLI_IDLE": "60"}
OFF = {"JOCKER_WARM_CLI_IDLE": "0"}


def _lock(rundir: str) -> str:
    return os.path.join(rundir, "warmcli.lock")


def _server(rundir: str) -> int | None:
    """The pid written in the lock file, while some process holds the lock."""
    from jocker.forkbase import lock_held
    if not lock_held(_lock(rundir)):
        return None
    try:
        with open(_lock(rundir)) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _serving(rundir: str) -> bool:
    """A server runs and listens (it takes the lock first, then preloads;
    a killed one's socket file may still be there, refusing)."""
    import socket
    if _server(rundir) is None:
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(os.path.join(rundir, "warmcli.sock"))     # then closed: a request it ignores
            return True
        except OSError:
            return False


def _children(pid: int, *, spares: bool = False) -> list[int]:
    """The server's children running commands (spares=False), or its idle
    spare children (named jocker-spare until they take a command)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/status") as f:
                    status = f.read().splitlines()
            except OSError:
                continue
            if any(line.split() == ["PPid:", str(pid)] for line in status) and \
                    (status[0].split() == ["Name:", SPARE_COMM]) == spares:
                out.append(int(p))
    return out


def _kill_server(rundir: str, wait_for) -> None:
    pid = _server(rundir)
    if pid:
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: _server(rundir) is None, 10)


@pytest.fixture
def warm(jocker, jocker_env, busybox_image, wait_for):
    """A running warm server for this run directory; stopped afterwards (the
    other tests run without one)."""
    rundir = jocker_env["JOCKER_RUNDIR"]
    jocker("run", "--rm", busybox_image, "true", env=WARM)
    assert wait_for(lambda: _serving(rundir), 20)
    yield rundir
    _kill_server(rundir, wait_for)


def _popen(jocker, *args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "jocker", *args], env={**jocker.env, **(env or {})}, **kw)


def _started(jocker, image, *args, script: str, **kw):
    """`run --rm ARGS image sh -c 'echo ready; SCRIPT'` with the warm CLI, once it said ready."""
    p = _popen(jocker, "run", "--rm", *args, image, "sh", "-c", "echo ready; " + script, env=WARM,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    assert p.stdout.readline() == b"ready\n"
    return p


def test_a_served_command_is_a_child_of_the_server_and_prints_as_a_local_one(jocker, busybox_image, warm,
                                                                            wait_for, tmp_path):
    server = _server(warm)
    p = _popen(jocker, "run", "--rm", busybox_image, "sh", "-c", "echo started; sleep 2; echo hi", env=WARM,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert p.stdout.readline() == b"started\n"
    kids = _children(server)
    assert kids and p.pid not in kids, kids                   # forked by the server, not the client
    assert os.readlink(f"/proc/{kids[0]}/cwd") == str(tmp_path)    # in the caller's directory
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out, err) == (0, b"hi\n", b"")
    assert _server(warm) == server
    for env in (WARM, OFF):
        r = jocker("run", "--rm", busybox_image, "echo", "hi", env=env, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", ""), env
        r = jocker("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3", env=env,
                   check=False)
        assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n"), env
        r = jocker("run", "--rm", "no-such-image-here", "true", env=env, check=False)
        assert r.returncode == 125 and r.stderr.startswith("Error:") and r.stdout == "", (env, r.stderr)


def test_relative_env_file_from_the_callers_cwd_and_output_to_a_file(jocker, busybox_image, warm, tmp_path):
    (tmp_path / "vars.env").write_text("GREETING=from-file\n")
    out = tmp_path / "out.txt"
    for env in (WARM, OFF):
        with open(out, "wb") as f:
            p = _popen(jocker, "run", "--rm", "--env-file", "vars.env", busybox_image, "sh", "-c",
                       "echo $GREETING", env=env, stdout=f, stderr=subprocess.PIPE, cwd=tmp_path)
            _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.read_text() == "from-file\n", env


def _term_the_client(jocker, image, env) -> tuple[int, bytes]:
    p = _popen(jocker, "run", "--rm", image, "sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; "
               "while true; do sleep 0.1; done", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    return p.returncode, out


def test_sigterm_to_the_client_is_what_it_is_locally(jocker, busybox_image, warm):
    local = _term_the_client(jocker, busybox_image, OFF)
    served = _term_the_client(jocker, busybox_image, WARM)
    assert served == local == (7, b"got-term\n")


def _term_a_sleep(jocker, image, env, wait_for) -> tuple:
    # "ready" came through the attached stream: the CLI proxies signals by
    # then (before that, a SIGTERM ends a local CLI still creating, and a
    # served one too, or not, depending on timing: what this test compares
    # is the steady state). `exec` keeps sleep PID 1, which ignores it.
    p = _popen(jocker, "run", "--rm", "--name", "warm-sleeper", image, "sh", "-c", "echo ready; exec sleep 3",
               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert wait_for(lambda: "warm-sleeper" not in _names(jocker), 30)
    return p.returncode, out, err


def test_sigterm_to_the_client_of_a_sleep_is_what_it_is_locally(jocker, busybox_image, warm, wait_for):
    """`sleep` ignores the proxied SIGTERM (PID 1 of its namespace has no
    default action): whatever the local CLI then does, the served one does."""
    assert _term_a_sleep(jocker, busybox_image, WARM, wait_for) == _term_a_sleep(jocker, busybox_image, OFF,
                                                                                   wait_for)


def test_a_killed_client_leaves_its_command_running_and_rm_still_removes(jocker, busybox_image, warm,
                                                                         wait_for):
    server = _server(warm)
    p = _started(jocker, busybox_image, "--name", "warm-orphan", script="sleep 2")
    assert _children(server), p.communicate()
    p.kill()
    p.wait()
    assert "warm-orphan" in _names(jocker)                    # the command goes on
    assert wait_for(lambda: "warm-orphan" not in _names(jocker) and not _children(server), 30)


def test_a_caller_with_other_limits_or_nice_runs_locally(jocker, busybox_image, warm):
    server = _server(warm)

    def constrained():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
        os.nice(3)
    p = subprocess.run([sys.executable, "-m", "jocker", "run", "--rm", busybox_image, "sh", "-c",
                        "ulimit -n; cut -d' ' -f19 /proc/self/stat"], env={**jocker.env, **WARM},
                       preexec_fn=constrained, capture_output=True, text=True, timeout=60)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert (p.returncode, p.stdout.split()) == (0, ["200", str(mine + 3)]), p.stderr
    assert _server(warm) == server                     # refused, not disturbed


def test_idle_zero_leaves_no_server(jocker, busybox_image, jocker_env, wait_for):
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_server(rundir, wait_for)
    jocker("run", "--rm", busybox_image, "true", env=OFF)
    jocker("ps", env=OFF)
    time.sleep(1.0)
    assert _server(rundir) is None


def test_an_idle_server_exits(jocker, busybox_image, jocker_env, wait_for):
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_server(rundir, wait_for)
    jocker("run", "--rm", busybox_image, "true", env={"JOCKER_WARM_CLI_IDLE": "1"})
    assert wait_for(lambda: _server(rundir) is not None, 20)
    assert wait_for(lambda: _server(rundir) is None, 20)
    assert not os.path.exists(os.path.join(rundir, "warmcli.sock"))


def test_changed_code_ends_the_server_and_the_next_command_is_local(jocker, busybox_image, warm, wait_for):
    import jocker.cli.containers as loaded          # loaded by the server, not by supervisors
    server = _server(warm)
    st = os.stat(loaded.__file__)
    try:
        os.utime(loaded.__file__, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r = jocker("run", "--rm", busybox_image, "echo", "after-change", env=WARM)
        assert r.stdout == "after-change\n"
        assert wait_for(lambda: _server(warm) != server, 20)
        assert not _children(server)
    finally:
        os.utime(loaded.__file__, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_stale_socket_without_a_server_means_local_then_a_new_server(jocker, busybox_image, warm, wait_for):
    old = _server(warm)
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: _server(warm) is None, 10)
    assert os.path.exists(os.path.join(warm, "warmcli.sock"))     # left behind, refusing
    r = jocker("run", "--rm", busybox_image, "echo", "local-again", env=WARM)
    assert r.stdout == "local-again\n"
    assert wait_for(lambda: _server(warm) not in (None, old) and _serving(warm), 20)


def _names(jocker) -> list[str]:
    return jocker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_a_command_killed_by_a_signal_kills_its_client_with_that_signal(jocker, busybox_image, warm,
                                                                       wait_for):
    server = _server(warm)
    p = _started(jocker, busybox_image, "--name", "warm-sigkilled", script="sleep 2")
    (child,) = _children(server)
    os.kill(child, signal.SIGKILL)
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL               # what the shell would see of a local CLI
    assert wait_for(lambda: "warm-sigkilled" not in _names(jocker), 30)    # the supervisor's --rm


def test_the_server_killed_mid_command(jocker, busybox_image, warm, wait_for):
    """The child reports its own exit status, so a dead server loses
    nothing; with the child gone too, the client says so and exits 125."""
    server = _server(warm)
    p = _started(jocker, busybox_image, script="sleep 1; exit 4")
    os.kill(server, signal.SIGKILL)
    out, err = p.communicate(timeout=30)
    assert (p.returncode, err) == (4, b"")

    jocker("run", "--rm", busybox_image, "true", env=WARM)            # local, and a new server
    assert wait_for(lambda: _serving(warm), 20)
    server = _server(warm)
    p = _started(jocker, busybox_image, "--name", "warm-orphaned", script="sleep 2")
    (child,) = _children(server)
    os.kill(server, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 125
    assert err.decode().count("\n") == 1 and "warm CLI server went away" in err.decode()
    assert wait_for(lambda: "warm-orphaned" not in _names(jocker), 30)


def test_on_a_terminal_without_t_output_and_status_are_the_local_ones(jocker, busybox_image, warm):
    """A terminal on 0, 1, 2 but no -t: served, with stdout line-buffered
    on the terminal as a fresh interpreter's would be."""
    from support import PtyProcess
    outs = []
    for env in (WARM, OFF):
        p = PtyProcess([sys.executable, "-m", "jocker", "run", "--rm", busybox_image, "sh", "-c",
                        "echo on-a-tty; exit 5"], {**jocker.env, **env})
        p.expect(b"on-a-tty")
        outs.append((p.wait(), p.out.replace(b"\r", b"")))
    assert outs[0] == outs[1] and outs[0][0] == 5, outs


MODULES_AT_EXIT = r"""
import atexit, json, sys
sys.argv = ["jocker", *sys.argv[1:]]
atexit.register(lambda: open(sys.argv.pop(), "w").write(json.dumps(sorted(sys.modules))))
sys.argv.append(sys.argv.pop(1))        # the output file, last
from jocker.cli import entry
entry()
"""


@pytest.mark.parametrize("network", ["bridge", "none"])
def test_the_server_preloads_everything_run_imports(jocker, busybox_image, network, tmp_path):
    """What a local `run --rm` has imported when it exits: all of it must be
    in the server already, or every served command imports it again."""
    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", MODULES_AT_EXIT, str(out), "run", "--rm", "--network", network,
                    busybox_image, "true"], env=jocker.env, check=True, timeout=120)
    used = set(json.loads(out.read_text()))
    probe = ("import json, sys\nfrom jocker.warm.server import Server\n"
             "Server(sys.argv[1], 1).preload()\nprint(json.dumps(sorted(sys.modules)))")
    pre = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], env=jocker.env, check=True,
                         capture_output=True, text=True).stdout
    assert used - set(json.loads(pre)) == set()


def test_a_spare_child_waits_for_the_next_command_and_runs_it_once(jocker, busybox_image, warm, wait_for,
                                                                   tmp_path):
    """The server forks its next command's process while nothing runs; the
    command runs in it, exactly once, in the caller's directory, and a new
    spare is made once the command is over."""
    server = _server(warm)
    assert wait_for(lambda: len(_children(server, spares=True)) == 1, 10)
    (spare,) = _children(server, spares=True)
    p = _started(jocker, busybox_image, script="pwd >/dev/null; sleep 1; echo once", cwd=tmp_path)
    assert _children(server) == [spare] and not _children(server, spares=True)
    assert os.readlink(f"/proc/{spare}/cwd") == str(tmp_path)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out, err) == (0, b"once\n", b"")
    assert wait_for(lambda: len(_children(server, spares=True)) == 1 and not _children(server), 10)
    assert _children(server, spares=True) != [spare]
    for _ in range(3):                  # back to back: each one runs once (an EPIPE once ran them twice)
        r = jocker("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3", env=WARM,
                   check=False)
        assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_a_killed_spare_is_replaced_and_the_command_still_runs_once(jocker, busybox_image, warm, wait_for):
    server = _server(warm)
    assert wait_for(lambda: len(_children(server, spares=True)) == 1, 10)
    (spare,) = _children(server, spares=True)
    os.kill(spare, signal.SIGKILL)
    assert wait_for(lambda: _children(server, spares=True) not in ([], [spare]), 10)
    (spare,) = _children(server, spares=True)
    os.kill(spare, signal.SIGKILL)      # and the command arrives before the server reaped it
    r = jocker("run", "--rm", busybox_image, "echo", "hi", env=WARM, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "")


def test_the_spare_goes_with_its_server(jocker, busybox_image, warm, wait_for):
    server = _server(warm)
    assert wait_for(lambda: len(_children(server, spares=True)) == 1, 10)
    (spare,) = _children(server, spares=True)
    _kill_server(warm, wait_for)
    assert wait_for(lambda: not os.path.exists(f"/proc/{spare}"), 10)
