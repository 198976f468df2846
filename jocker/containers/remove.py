"""Removing a container's storage: its clone, its directory (logs, hosts),
its volatile state, and (with -v or --rm) its anonymous volumes. Named volumes
and bind-mounted host directories are never touched."""

from __future__ import annotations

import shutil

from ..errors import JockerError
from ..host.runner import Runner
from ..storage import make_driver


def storage_job(engine, c) -> dict:
    """What destroy_storage needs, serializable for the supervisor (--rm)."""
    return {"dataset": c.dataset, "container_dir": engine.layout.container_dir(c.id),
            "rundir": engine.layout.container_rundir(c.id),
            "anon_volumes": [engine.layout.volume(m["Name"]) for m in c.spec.get("Mounts", [])
                             if m.get("Type") == "volume" and _is_anonymous(engine, m)],
            "zfs_driver": engine.config.zfs_driver}


def _is_anonymous(engine, mount: dict) -> bool:
    """The volume's own mark, never its name: a named volume may well be 64
    hex characters long, and `rm -v` must not take it."""
    try:
        return engine.zfs.get(engine.layout.volume(mount["Name"])).get("jocker:volume.anonymous") == "1"
    except JockerError:
        return False


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
