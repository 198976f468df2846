"""Issue 9's reproducers for state that must never be lost or misread:
`ps` writes nothing, real exit codes survive `ps` loops, a reused PID is
never taken for a supervisor, racing `rm -f` has exactly one winner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.reliability


def _state_prop(jocker_env, jocker, name):
    cid = jocker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    ds = f"{jocker_env['JOCKER_DATASET']}/containers/{cid}"
    return cid, subprocess.run(["zfs", "get", "-H", "-o", "value", "all", ds],
                               capture_output=True, text=True, check=True).stdout


def test_ps_never_writes_and_reports_a_dead_supervisor(jocker, jocker_env, busybox_image, cleanup, wait_for):
    cleanup.append("orphan")
    jocker("run", "-d", "--name", "orphan", busybox_image, "sleep", "60")
    cid, before = _state_prop(jocker_env, jocker, "orphan")
    pid = int(open(os.path.join(jocker_env["JOCKER_RUNDIR"], cid, "supervisor.json")).read()
              .split('"pid":')[1].split(",")[0])
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: "Exited (255)" in jocker("ps", "-a", "--filter", "name=orphan").stdout)
    for _ in range(3):
        jocker("ps", "-a")
    assert _state_prop(jocker_env, jocker, "orphan")[1] == before      # nothing written


def test_exit_codes_survive_ps_loops(jocker, busybox_image, cleanup):
    names = [f"code{i}" for i in range(8)]
    cleanup += names
    stop = threading.Event()

    def ps_loop():
        while not stop.is_set():
            jocker("ps", "-a", check=False)

    loops = [threading.Thread(target=ps_loop) for _ in range(2)]
    for t in loops:
        t.start()
    try:
        for i, n in enumerate(names):
            jocker("run", "-d", "--name", n, busybox_image, "sh", "-c", f"sleep 0.{i}; exit {10 + i}")
        for n in names:
            jocker("wait", n)
    finally:
        stop.set()
        for t in loops:
            t.join()
    codes = [jocker("inspect", "-f", "{{.State.ExitCode}}", n).stdout.strip() for n in names]
    assert codes == [str(10 + i) for i in range(8)]


def test_stop_never_signals_a_reused_pid(jocker, jocker_env, busybox_image, cleanup):
    """supervisor.json left by a dead supervisor names a PID that now belongs
    to someone else: neither ps nor stop may take it for the supervisor."""
    cleanup.append("reused")
    cid = jocker("run", "-d", "--name", "reused", busybox_image, "sleep", "60").stdout.strip()
    rundir = os.path.join(jocker_env["JOCKER_RUNDIR"], cid)
    info = open(os.path.join(rundir, "supervisor.json")).read()
    jocker("kill", "reused")
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        with open(os.path.join(rundir, "supervisor.json"), "w") as f:
            f.write(info.replace(info.split('"pid":')[1].split(",")[0], f" {stranger.pid}", 1))
        assert "Up" not in jocker("ps", "-a", "--filter", "name=reused").stdout
        jocker("stop", "reused")
        time.sleep(0.2)
        assert stranger.poll() is None          # still alive: not signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_concurrent_rm_has_one_winner(jocker, busybox_image):
    jocker("create", "--name", "rmrace", busybox_image, "true")
    procs = [subprocess.Popen([sys.executable, "-m", "jocker", "rm", "-f", "rmrace"], env=jocker.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(10)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    assert sum(1 for code, _ in results if code == 0) == 1, results
    for code, err in results:
        if code:
            assert "No such container" in err and "Traceback" not in err


def test_killed_attached_run_never_starts_unattended(jocker, jocker_env, busybox_image, wait_for):
    """SIGKILL an attached `run` as soon as its supervisor listens: the
    container either ran attached, or stays Created (Docker's behaviour),
    never starting 30 s later with no one attached."""
    run = jocker_env["JOCKER_RUNDIR"]
    created = 0
    for i in range(5):
        name = f"killedrun{i}"
        before = set(os.listdir(run)) if os.path.isdir(run) else set()
        cli = subprocess.Popen([sys.executable, "-m", "jocker", "run", "--name", name, busybox_image,
                                "echo", "ran"], env=jocker.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            new = set(os.listdir(run)) - before
            if any(os.path.exists(os.path.join(run, d, "attach.sock")) for d in new):
                break
            time.sleep(0.001)
        cli.kill()
        cli.wait()
        try:
            assert wait_for(lambda: jocker("inspect", "-f", "{{.State.Status}}", name, check=False)
                            .stdout.strip() in ("created", "exited"), timeout=8)
            status = jocker("inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}", name).stdout.split()
            if status[0] == "created":
                created += 1
                assert status[1].startswith("0001-")         # never started
        finally:
            jocker("rm", "-f", name, check=False)
    print(f"{created} of 5 killed before attaching stayed Created")
