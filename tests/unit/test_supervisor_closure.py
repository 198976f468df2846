"""The supervisor lives as long as its container, one per container: what it
imports is its memory (budget 12 MB RSS, see tests/benchmarks). This pins
its import closure on both runtimes, so growth shows up as a failing diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import jocker

ROOT = os.path.dirname(os.path.dirname(jocker.__file__))

PROBE = r"""
import json, os, sys
d = sys.argv[2]
from jocker.containers.supervisor import Supervisor
job = {"runtime": sys.argv[1], "rundir": d, "log_path": os.path.join(d, "log"),
       "spec": {"id": "a" * 64, "name": "t", "rootfs": "/nonexistent", "rundir": d, "argv": ["/bin/sh"]}}
sup = Supervisor(job, -1)
sup._status("running")
print(json.dumps(sorted(sys.modules)))
"""

COMMON = {"jocker", "jocker.atomic", "jocker.containers", "jocker.containers.attachserver",
          "jocker.containers.childproc", "jocker.containers.frames", "jocker.containers.job",
          "jocker.containers.logwriter", "jocker.containers.supervisor", "jocker.envvars", "jocker.errors",
          "jocker.events", "jocker.events.journal",
          "jocker.host", "jocker.host.process", "jocker.rundir", "jocker.host.runner", "jocker.runtime",
          "jocker.runtime.base", "jocker.runtime.tmpfs", "jocker.signals", "jocker.times"}
JOCKER_MODULES = {
    "linux": COMMON | {"jocker.containers.identity", "jocker.runtime.linux_ns"},
    # The jail path's standard-library weight is pinned by test_supervisor_imports.py.
    "jail": COMMON | {"jocker.lock", "jocker.runtime.freebsd_jail", "jocker.runtime.jail_devfs",
                     "jocker.runtime.jail_exec", "jocker.runtime.jail_mounts", "jocker.runtime.jail_plan",
                     "jocker.runtime.jail_rctl", "jocker.runtime.jail_rootfs"},
}
NEVER = {"click", "jinja2", "subprocess", "datetime", "typing", "jocker.engine", "jocker.engine_api",
         "jocker.config", "jocker.images", "jocker.storage", "jocker.builder"}
HEAVY = {"dataclasses", "inspect", "logging", "threading"}


@pytest.mark.parametrize("runtime", ["linux", "jail"])
def test_supervisor_import_closure(runtime, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-S", "-c", PROBE, runtime, str(tmp_path)],
                         capture_output=True, text=True, env=env, check=True)
    modules = set(json.loads(out.stdout))
    assert {m for m in modules if m.startswith("jocker")} == JOCKER_MODULES[runtime]
    assert not modules & NEVER and not modules & HEAVY


SERVER_PROBE = r"""
import json, sys
from jocker.containers.forkserver import Server
Server(sys.argv[1], 1).preload()
print(json.dumps(sorted(sys.modules)))
"""


def test_fork_server_preloads_the_supervisor_closure_and_nothing_more(tmp_path):
    """The fork-server's memory is shared by every supervisor it forks: it
    loads what they load (and the healthcheck monitor), nothing else."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-S", "-c", SERVER_PROBE, str(tmp_path)],
                         capture_output=True, text=True, env=env, check=True)
    modules = set(json.loads(out.stdout))
    runtime = "jail" if sys.platform.startswith("freebsd") else "linux"
    # Linux: what each container's namespace child and PID 1 load (nsinit)
    # and the security plan's default capabilities (its seccomp filter is
    # made once, here).
    # Also (Linux): a bridge container's network set-up and teardown and a
    # --rm container's removal, which its supervisor imported while the
    # container ran (CPU every `run --rm` paid on a two-core host).
    container = set() if runtime == "jail" else {
        "jocker.runtime.nsinit", "jocker.runtime.linux_security", "jocker.runtime.security",
        "jocker.runtime.mountinfo"}
    beside = set() if runtime == "jail" else {
        "jocker.net", "jocker.net.driver", "jocker.net.linux", "jocker.net.linux_plan", "jocker.net.naming",
        "jocker.net.rtnl",
        "jocker.containers.remove", "jocker.host.tree", "jocker.storage", "jocker.storage.base",
        "jocker.storage.foreign", "jocker.storage.stale", "jocker.storage.zfs_cli", "jocker.storage.zfsfuse"}
    assert {m for m in modules if m.startswith("jocker")} == JOCKER_MODULES[runtime] | {
        "jocker.containers.forkserver", "jocker.containers.health", "jocker.forkbase"} | container | beside
    assert not modules & (NEVER - beside) and not modules & HEAVY
    assert "shutil" not in modules


def test_nsinit_names_the_run_dir_file_as_rundir_does():
    """nsinit runs as a standalone script and cannot import jocker.rundir."""
    from jocker import rundir
    from jocker.runtime import nsinit
    assert nsinit.INIT_PID == rundir.INIT_PID


def test_job_round_trips_and_reads_older_jobs(tmp_path):
    from jocker.containers.job import Job
    job = Job(id="a" * 64, name="web", rundir=str(tmp_path), spec={"id": "a" * 64, "argv": ["/bin/sh"]},
              log_path=str(tmp_path / "log"), restart={"Name": "always", "MaximumRetryCount": 0},
              storage={"dataset": "pool/jocker/containers/x", "zfs_driver": "cli"})
    path = str(tmp_path / "job.json")
    job.save(path)
    again = Job.load(path)
    assert again.to_dict() == job.to_dict() and os.stat(path).st_mode & 0o777 == 0o600
    old = Job.from_dict({"rundir": "/r", "spec": {}, "log_path": "/l", "dataset": "p/c", "zfs_driver": "cli"})
    assert old.storage == {"dataset": "p/c", "rundir": "/r", "zfs_driver": "cli"} and old.restart == {"Name": "no"}
