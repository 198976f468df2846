"""Removing a container's storage: its clone, its directory (logs, hosts),
its volatile state, and (with -v or --rm) its anonymous volumes. Named volumes
and bind-mounted host directories are never touched."""

from __future__ import annotations

import shutil

from ..errors import JockerError
from ..runner import Runner
from ..storage import make_driver


def storage_job(engine, c) -> dict:
    """What destroy_storage needs, serializable for the supervisor (--rm)."""
    return {"dataset": c.dataset, "container_dir": engine.layout.container_dir(c.id),
            "rundir": engine.layout.container_rundir(c.id),
            "anon_volumes": [engine.layout.volume(m["Name"]) for m in c.spec.get("Mounts", [])
                             if m.get("Type") == "volume" and _is_anonymous(engine, m)],
            "zfs_driver": engine.config.zfs_driver}


def _is_anonymous(engine, mount: dict) -> bool:
    # Anonymous volumes are named by 64 hex characters, as Docker names them.
    name = mount.get("Name", "")
    return len(name) == 64 and all(ch in "0123456789abcdef" for ch in name)


def destroy_storage(runner: Runner, job: dict, *, volumes: bool = True) -> None:
    zfs = make_driver(job.get("zfs_driver", "cli"), runner)
    _destroy_if_there(zfs, job["dataset"], recursive=True)
    shutil.rmtree(job["container_dir"], ignore_errors=True)
    if volumes:
        for ds in job.get("anon_volumes", []):
            _destroy_if_there(zfs, ds)
    shutil.rmtree(job["rundir"], ignore_errors=True)


def _destroy_if_there(zfs, name: str, recursive: bool = False) -> None:
    """Destroy; already gone is fine (one command instead of exists + destroy)."""
    try:
        zfs.destroy(name, recursive=recursive)
    except JockerError as e:
        if "does not exist" not in str(e):
            raise
