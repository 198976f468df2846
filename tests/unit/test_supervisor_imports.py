"""The per-container supervisor's import closure on the FreeBSD path.

One supervisor lives as long as its container, so every module it imports
is paid once per container (the RSS budget in tests/benchmarks). The jail
path used to pull in dataclasses (and with it inspect, ast, dis, tokenize),
logging (threading, traceback, warnings), pathlib and jinja2's helpers,
several megabytes over the Linux path. This pins it: the supervisor with
the jail driver selected, its main process and a healthcheck probe command
built and a host command run, imports nothing the Linux path does not,
except fcntl (the devfs lock). Running host commands must not load ctypes
into it: their children set their death signal with it, on their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"dataclasses", "logging", "inspect", "ast", "dis", "typing", "pathlib", "jinja2",
         "subprocess", "threading", "traceback", "warnings", "ctypes", "tokenize"}

PROBE = r"""
import json, os, sys
runtime, tmp = sys.argv[1], sys.argv[2]
before = set(sys.modules)
from jocker.containers.supervisor import Supervisor
job = {"runtime": runtime, "rundir": tmp, "log_path": os.path.join(tmp, "log"),
       "spec": {"id": "a" * 64, "name": "t", "rootfs": tmp, "rundir": tmp, "argv": ["/bin/sh"],
                "env": [], "user": "", "workdir": "/", "tty": False, "stdin_open": False,
                "mounts": [], "limits": {}}}
sup = Supervisor(job, -1, os.path.join(tmp, "job.json"))
import jocker.containers.health                     # a healthchecked container's monitor
if runtime == "jail":
    sup.driver.main_command(sup.spec)
    sup.driver.health_command(sup.spec, ["/bin/sh", "-c", "true"], None)   # each probe
sup.runner.run(["true"])            # a host command (jail_create, zfs set, jail -r...)
print(json.dumps(sorted(m for m in set(sys.modules) - before if not m.startswith("jocker"))))
"""


def closure(runtime: str, tmp: Path) -> set[str]:
    res = subprocess.run([sys.executable, "-S", "-c", PROBE, runtime, str(tmp)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(json.loads(res.stdout))


def test_jail_supervisor_imports_no_more_than_the_linux_one(tmp_path):
    jail_dir, linux_dir = tmp_path / "j", tmp_path / "l"
    jail_dir.mkdir()
    linux_dir.mkdir()
    (jail_dir / "process.json").write_text(json.dumps(
        {"jid": 1, "uid": 0, "gid": 0, "groups": [0], "workdir": "/", "argv": ["/bin/sh"], "env": {}}))
    jail = closure("jail", jail_dir)
    linux = closure("linux", linux_dir)
    assert not jail & HEAVY, f"heavy modules on the FreeBSD supervisor path: {sorted(jail & HEAVY)}"
    assert jail - linux <= {"fcntl"}, sorted(jail - linux)
