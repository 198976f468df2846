"""Host commands die with jocker (issue 9, item 9): the exact libc calls, and
the real thing on this host."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from jocker.host import process


def test_pdeathsig_calls():
    assert process.pdeathsig_call("linux", 42) == ("prctl", (1, 9))
    # procctl(P_PID, pid, PROC_PDEATHSIG_CTL, &signum), sys/procctl.h of FreeBSD >= 11.2
    assert process.pdeathsig_call("freebsd14", 42) == ("procctl", (0, 42, 11, 9))
    assert process.pdeathsig_call("darwin", 42) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs the Linux call for real")
def test_host_command_dies_with_a_killed_jocker(tmp_path):
    """A middle process runs `sleep` through the runner and is SIGKILLed: the
    sleep dies too, and was in its own process group."""
    pidfile = tmp_path / "pid"
    middle = os.fork()
    if middle == 0:
        from jocker.host import runner
        r = runner.Runner()
        orig = process.start

        def start(*a, **kw):
            p = orig(*a, **kw)
            pidfile.write_text(str(p.pid))
            return p
        process.start = start
        try:
            r.run(["sleep", "30"], timeout=60)
        finally:
            os._exit(0)
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.01)
    child = int(pidfile.read_text())
    assert os.getpgid(child) == child
    # On the spawn path the command goes through setpriv(1), which sets the
    # signal then execs it: kill the middle once it is the command itself.
    for _ in range(200):
        try:
            if os.path.basename(os.readlink(f"/proc/{child}/exe")) == "sleep":
                break
        except OSError:
            pass
        time.sleep(0.01)
    os.kill(middle, signal.SIGKILL)
    os.waitpid(middle, 0)
    for _ in range(200):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the host command outlived the process that ran it")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the spawn path is Linux's (setpriv)")
def test_commands_are_spawned_with_their_streams_and_no_stray_descriptor(tmp_path):
    """The runner's commands: output captured, exit status kept, a missing
    program is FileNotFoundError (127 for the runner), and an inheritable
    descriptor of ours does not reach the command."""
    from jocker.errors import HostCommandError
    from jocker.host.runner import Runner
    stray = os.open(str(tmp_path / "stray"), os.O_WRONLY | os.O_CREAT)
    os.set_inheritable(stray, True)
    try:
        res = Runner().run(["sh", "-c", f"echo out; echo err >&2; [ -e /proc/self/fd/{stray} ] && echo leak; exit 3"],
                           check=False)
    finally:
        os.close(stray)
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
    with pytest.raises(HostCommandError) as e:
        Runner().run(["no-such-program-here"])
    assert e.value.returncode == 127
    assert process._setpriv() == ("/usr/bin/setpriv" if os.access("/usr/bin/setpriv", os.X_OK) else "")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the spawn path is Linux's (setpriv)")
def test_a_program_named_by_path_fails_as_exec_would(tmp_path, monkeypatch):
    """A missing program given with a slash is the runner's 127 'command not
    found' (not setpriv's message), a non-executable one a PermissionError,
    as os.execvpe raised them on the fork path."""
    from jocker.errors import HostCommandError
    from jocker.host.runner import Runner
    with pytest.raises(HostCommandError) as e:
        Runner().run([str(tmp_path / "missing")])
    assert e.value.returncode == 127 and "command not found" in str(e.value)
    plain = tmp_path / "plain"
    plain.write_text("echo hi\n")
    with pytest.raises(PermissionError):
        process.start([str(plain)], child_setup=process.die_with_parent)
    # an empty PATH entry is the working directory, as for execvpe; an
    # empty PATH is only that (not the default path)
    prog = tmp_path / "prog"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert process._resolve("prog", {"PATH": "/nonexistent::/bin"}) == "./prog"
    with pytest.raises(FileNotFoundError):
        process._resolve("sh", {"PATH": ""})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs the Linux call for real")
def test_a_parent_dead_before_the_call_still_means_death():
    """The fork path (FreeBSD's, and Linux's with a cwd): a parent that dies
    between the fork and prctl/procctl sends no signal later, so the child
    checks its parent after the call and dies itself."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(r)
        process._forker = os.getpid()       # what start() records before its fork
        if os.fork() == 0:
            parent = os.getppid()
            for _ in range(500):            # until the middle is gone
                if os.getppid() != parent:
                    break
                time.sleep(0.01)
            process.die_with_parent()
            os.write(w, b"alive")
            os._exit(0)
        os._exit(0)
    os.close(w)
    os.waitpid(middle, 0)
    with os.fdopen(r, "rb") as f:
        assert f.read() == b"", "a child whose parent died before prctl went on"
