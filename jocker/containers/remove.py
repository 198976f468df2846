"""Removing a container's storage: its clone, its directory (logs, hosts),
its volatile state, and (with -v or --rm) its anonymous volumes. Named volumes
and bind-mounted host directories are never touched."""

from __future__ import annotations

from ..errors import JockerError, NotFound
from ..host.runner import Runner
from ..host.tree import remove_tree
from ..storage import make_driver
from ..storage.foreign import refuse_foreign


def storage_job(engine, c) -> dict:
    """What destroy_storage needs, serializable for the supervisor (--rm)."""
    return {"dataset": c.dataset, "container_dir": engine.layout.container_dir(c.id),
            "rundir": engine.layout.container_rundir(c.id),
            "rootfs": engine.layout.container_rootfs(c.id),
            "anon_volumes": [engine.layout.volume(m["Name"]) for m in c.spec.get("Mounts", [])
                             if m.get("Type") == "volume" and _is_anonymous(engine, m)],
            "zfs_driver": engine.config.zfs_driver, "name": c.name}


def _is_anonymous(engine, mount: dict) -> bool:
    """The volume's own mark, never its name: a named volume may well be 64
    hex characters long, and `rm -v` must not take it."""
    try:
        return engine.zfs.get(engine.layout.volume(mount["Name"])).get("jocker:volume.anonymous") == "1"
    except JockerError:
        return False


def preload(job: dict) -> None:
    """Import what destroy_storage(job) will reach (the driver, the mount
    table reader): a `run --rm` supervisor calls this while its container
    runs, because its caller waits for the removal (~4 ms of imports)."""
    make_driver(job.get("zfs_driver", "cli"), Runner())
    from ..storage import stale, zfsfuse  # noqa: F401
    stale.mount_points("/nonexistent")      # and the reader behind it


def check_removable(zfs, job: dict, *, volumes: bool) -> None:
    """Conflict when the container's clone (or, with volumes, one of its
    anonymous volumes) holds what jocker did not make, before anything is
    destroyed; NotFound when the clone is gone."""
    refuse_foreign(zfs, job["dataset"], "container " + (job.get("name") or job["dataset"].rsplit("/", 1)[-1][:12]))
    for ds in job.get("anon_volumes", []) if volumes else ():
        try:
            refuse_foreign(zfs, ds, "anonymous volume " + ds.rsplit("/", 1)[-1][:12])
        except NotFound:
            pass


def destroy_storage(runner: Runner, job: dict, *, volumes: bool = True, checked: bool = False) -> None:
    """checked: the caller ran check_removable under the engine lock already."""
    zfs = make_driver(job.get("zfs_driver", "cli"), runner)
    anon = job.get("anon_volumes", []) if volumes else []
    if not checked and not anon:
        # A clone holds nothing jocker made below it, so a destroy without -r
        # is the check: it only succeeds when nothing is below (one command
        # instead of `zfs get -r` + `zfs destroy -r` on every `run --rm`).
        # When it fails, the check says why (Conflict naming what is there).
        try:
            _destroy_if_there(zfs, job["dataset"], in_use_at=job.get("rootfs", ""))
        except JockerError as failed:
            try:
                check_removable(zfs, job, volumes=False)
            except NotFound:
                failed = None               # gone after all
            except JockerError as refused:
                failed = refused            # the Conflict naming what is there
            if failed is not None:
                raise failed from None
    else:
        try:
            if not checked:
                check_removable(zfs, job, volumes=volumes)
        except NotFound:
            pass                            # already gone: the directories still go
        else:
            _destroy_if_there(zfs, job["dataset"], recursive=True)
    remove_tree(job["container_dir"])
    if volumes:
        for ds in job.get("anon_volumes", []):
            _destroy_if_there(zfs, ds)
    remove_tree(job["rundir"])


def _destroy_if_there(zfs, name: str, recursive: bool = False, in_use_at: str = "") -> None:
    """Destroy; already gone is fine (one command instead of exists + destroy).
    in_use_at: where the (just-used, mounted) dataset is mounted."""
    try:
        if in_use_at:
            zfs.destroy_in_use(name, in_use_at)
        else:
            zfs.destroy(name, recursive=recursive)
    except JockerError as e:
        if "does not exist" not in str(e):
            raise
