"""The warm CLI's client (jocker/warm/client.py): which commands it hands
over, how it finds the run directory (the configuration's own reader), what
it imports (it runs first on every command), and a round trip through a real
server in a temporary run directory with a command that needs no engine
(`run --help`, a flag error). The end-to-end behaviour with containers is in
tests/integration/test_warm_cli.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import jocker
from jocker import config
from jocker.warm.client import eligible

ROOT = os.path.dirname(os.path.dirname(jocker.__file__))


@pytest.mark.parametrize("argv,ok", [
    (["run", "--rm", "busybox", "true"], True),
    (["run", "-d", "--rm", "-e", "A=1", "busybox", "sleep", "5"], True),
    (["ps", "-a"], True),
    (["images"], True),
    (["run", "-it", "busybox"], False),
    (["run", "-ti", "busybox"], False),
    (["run", "-i", "busybox"], False),
    (["run", "-t", "busybox"], False),
    (["run", "-a", "stdout", "busybox"], False),
    (["run", "--rm", "-dit", "busybox"], False),
    (["run", "--interactive", "busybox"], False),
    (["run", "--tty=true", "busybox"], False),
    (["run", "--attach=stdin", "busybox"], False),
    (["run", "busybox", "ls", "-la"], False),          # conservative: the command's flags count too
    (["-D", "run", "busybox"], False),                  # a global option before the verb
    (["--config", "/x", "run", "busybox"], False),
    (["exec", "c", "true"], False),
    (["build", "."], False),
    ([], False),
])
def test_eligible(argv, ok):
    assert eligible(argv) is ok


def test_quick_values_agree_with_load(tmp_path):
    conf = tmp_path / "jocker.conf"
    conf.write_text('# c\nrundir = "/var/run/other"\nwarm_cli_idle = 7\n')
    env = {"JOCKER_CONFIG": str(conf)}
    full = config.load(environ=env)
    assert config.quick_values(("rundir", "warm_cli_idle"), env) == {
        "rundir": full.rundir, "warm_cli_idle": full.warm_cli_idle} == {
        "rundir": "/var/run/other", "warm_cli_idle": "7"}
    env["JOCKER_WARM_CLI_IDLE"] = "0"
    assert config.quick_values(("warm_cli_idle",), env) == {"warm_cli_idle": config.load(environ=env).warm_cli_idle}
    with pytest.raises(jocker.errors.UsageError):
        config.quick_values(("rundir",), {"JOCKER_CONFIG": str(tmp_path / "missing.conf")})
    bad = tmp_path / "bad.conf"
    bad.write_text("no_such_key = 1\n")
    with pytest.raises(jocker.errors.UsageError):
        config.quick_values(("rundir",), {"JOCKER_CONFIG": str(bad)})


def test_warm_cli_idle_must_be_a_number():
    with pytest.raises(jocker.errors.UsageError, match="warm_cli_idle"):
        config.load(environ={"JOCKER_CONFIG": os.devnull, "JOCKER_WARM_CLI_IDLE": "soon"})


PROBE = r"""
import sys
sys.argv = ["jocker", "run", "--rm", "busybox", "true"]
from jocker.warm import client
assert client.eligible(sys.argv[1:]) and client.settings() is not None
assert client.Client("/nonexistent/run").run(sys.argv[1:]) is None     # nobody to connect to
sys.stdout.write(" ".join(sys.modules))
"""


def test_the_client_imports_no_click_and_no_engine(tmp_path):
    """It runs before anything else on every command: a few small modules
    (`python3 -X importtime -m jocker ...` shows well under a millisecond)."""
    (tmp_path / "empty.conf").write_text("")
    env = dict(os.environ, PYTHONPATH=ROOT, JOCKER_CONFIG=str(tmp_path / "empty.conf"))
    out = subprocess.run([sys.executable, "-S", "-c", PROBE], capture_output=True, text=True, env=env,
                         check=True)
    modules = set(out.stdout.split())
    assert {m for m in modules if m.startswith("jocker")} == {
        "jocker", "jocker.config", "jocker.errors", "jocker.forkbase", "jocker.rundir", "jocker.warm",
        "jocker.warm.client"}
    assert not modules & {"click", "json", "re", "dataclasses", "pathlib", "subprocess", "typing", "inspect", "socket", "signal",
                          "logging", "threading"}


@pytest.fixture
def server(tmp_path):
    """A real warm server in a private run directory (short path: sun_path)."""
    import tempfile
    rundir = tempfile.mkdtemp(prefix="jw", dir="/tmp")
    conf = tmp_path / "jocker.conf"
    conf.write_text("")
    env = {**os.environ, "PYTHONPATH": ROOT, "JOCKER_RUNDIR": rundir, "JOCKER_CONFIG": str(conf),
           "JOCKER_WARM_CLI_IDLE": "30"}
    proc = subprocess.Popen([sys.executable, "-c", "from jocker.warm.server import main; main()", rundir, "30"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    sock = os.path.join(rundir, "warmcli.sock")
    end = time.monotonic() + 30
    while not os.path.exists(sock) and time.monotonic() < end:
        time.sleep(0.05)
    assert os.path.exists(sock)
    assert os.stat(sock).st_mode & 0o077 == 0
    with open(os.path.join(rundir, "warmcli.lock")) as f:
        assert int(f.read()) == proc.pid
    yield env, proc
    proc.kill()
    proc.wait()
    import shutil
    shutil.rmtree(rundir, ignore_errors=True)


def _jocker(env, *args, **kw):
    return subprocess.run([sys.executable, "-m", "jocker", *args], capture_output=True, text=True, env=env,
                          timeout=60, **kw)


def test_served_help_and_flag_errors_equal_local_ones(server, tmp_path):
    env, proc = server
    local_env = {**env, "JOCKER_WARM_CLI_IDLE": "0"}
    for args in (["run", "--help"], ["run", "--no-such-flag", "x"], ["ps", "--help"], ["images", "--bogus"]):
        served, local = _jocker(env, *args), _jocker(local_env, *args)
        assert (served.returncode, served.stdout, served.stderr) == \
            (local.returncode, local.stdout, local.stderr), args
    assert _jocker(env, "run", "--no-such-flag", "x").returncode == 125
    assert proc.poll() is None


def test_a_server_of_another_import_path_answers_fallback_and_makes_way(server):
    """Another PYTHONPATH means other modules could be imported: the client
    runs the command itself, and the server goes, so that the next command
    leaves a server of its own import path behind."""
    env, proc = server
    other = {**env, "PYTHONPATH": ROOT + os.pathsep + "/nonexistent-dir"}
    r = _jocker(other, "run", "--help")
    assert r.returncode == 0 and "Usage: jocker run" in r.stdout
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(os.path.join(env["JOCKER_RUNDIR"], "warmcli.sock"))


# FreeBSD without fdescfs: /dev/fd lists only 0, 1 and 2, so a fork closes
# what else it must by name. The server runs with open_fds() answering so.
NO_FDESCFS = ("import sys; import jocker.warm.server as s; s.open_fds = lambda: [0, 1, 2]; "
              "s.Server(sys.argv[1], float(sys.argv[2])).run()")


def _spares(server_pid: int) -> list[int]:
    from jocker.warm.server import SPARE_COMM
    out = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/status") as f:
                status = f.read().splitlines()
        except OSError:
            continue
        if ["PPid:", str(server_pid)] in [line.split() for line in status] and \
                status[0].split() == ["Name:", SPARE_COMM]:
            out.append(int(p))
    return out


def test_the_spare_keeps_none_of_the_servers_descriptors_and_goes_with_it(tmp_path):
    """Where the descriptor list shows only 0-2 (FreeBSD without fdescfs),
    the spare still closes the server's end of its socket pair and its
    wake-up pipe: holding that end, it never saw its server go, and every
    server left one 25 MB process behind for good."""
    import tempfile
    rundir = tempfile.mkdtemp(prefix="jw", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", NO_FDESCFS, rundir, "30"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spares: list[int] = []
    try:
        end = time.monotonic() + 30
        while not spares and time.monotonic() < end:
            time.sleep(0.05)
            spares = _spares(proc.pid)
        assert len(spares) == 1
        fds = sorted(int(x) for x in os.listdir(f"/proc/{spares[0]}/fd"))
        assert len(fds) == 4 and fds[:3] == [0, 1, 2]       # its stdio and its end of the pair
        proc.kill()
        proc.wait()
        end = time.monotonic() + 10
        while os.path.exists(f"/proc/{spares[0]}") and time.monotonic() < end:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{spares[0]}")
    finally:
        proc.kill()
        proc.wait()
        for pid in spares:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        import shutil
        shutil.rmtree(rundir, ignore_errors=True)


def test_an_exit_before_the_pid_line_is_the_commands_status_not_a_fallback(tmp_path):
    """The child writes its exit status to the client itself; a child that
    runs before its server says `pid` (a spare woken on the server's CPU
    preempts it: under load, a spare with more CPU share did 6 times in 10)
    finishes first. Taken as a refusal, the command ran a second time here."""
    import socket
    import threading
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "warmcli.sock"))
    listener.listen(1)
    got = {}

    def serve():
        conn, _ = listener.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
            for fd in fds:
                os.close(fd)
            size = int(data[:10])
            while len(data) < 10 + size:
                data += conn.recv(65536)
            got["request"] = True
            conn.sendall(b"exit 3\n")       # the child, done
            conn.sendall(b"pid 4242\n")     # its server, late
    t = threading.Thread(target=serve)
    t.start()
    probe = "import sys; from jocker.warm.client import Client; print(Client(sys.argv[1]).run(['run', '--help']))"
    try:
        out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], env={**os.environ, "PYTHONPATH": ROOT},
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (out.returncode, out.stdout) == (0, "3\n"), out.stderr
    finally:
        t.join(10)
        listener.close()
    assert got == {"request": True}
