"""Containers as jocker stores them, and their truthful state.

Durable facts live on the container's clone as ZFS user properties
(`jocker:container.name`, `.config`, `.state`): they survive reboots and
travel with the dataset. Volatile facts (is a supervisor alive, which PID is
the main process) live in `<rundir>/<id>/supervisor.json`. A container is
running only if its supervisor process is alive; after a reboot or a
SIGKILLed supervisor, `ps` says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .. import rundir as RD
from ..errors import InvalidName, NotFound
from ..layout import Layout
from ..storage import props as P
from ..storage.base import Dataset

LOST_EXIT = 255     # the supervisor died: the real exit status is unknown
LOST_ERROR = "the supervisor died; exit status unknown"


@dataclass
class Container:
    id: str
    name: str
    dataset: str
    spec: dict                  # everything `create` decided: Config, HostConfig, Image, Mounts...
    state: dict                 # StartedAt, FinishedAt, ExitCode, RestartCount, UserStopped, Error
    rw_size: int = 0            # bytes written in the clone (usedbydataset)
    size: int = 0               # bytes referenced (the whole filesystem)
    origin: str = ""
    runtime: dict = field(default_factory=dict)    # supervisor.json when alive

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def config(self) -> dict:
        return self.spec.get("Config", {})

    @property
    def host(self) -> dict:
        return self.spec.get("HostConfig", {})

    @property
    def image_id(self) -> str:
        return self.spec.get("Image", "")

    @property
    def running(self) -> bool:
        return bool(self.runtime) and self.runtime.get("status") in ("running", "restarting", "paused")

    @property
    def status(self) -> str:
        """Docker's State.Status: created, running, paused, restarting, exited."""
        if self.runtime:
            return self.runtime.get("status", "running")
        if self.state.get("StartedAt"):
            return "exited"
        return "created"

    @property
    def supervisor_lost(self) -> bool:
        """Started, not running, and no end of the run recorded: the
        supervisor died (SIGKILL, power loss). Derived, never written by a read."""
        return bool(self.state.get("StartedAt")) and not self.runtime and not self.finished_cleanly

    @property
    def exit_code(self) -> int:
        if self.supervisor_lost:
            return LOST_EXIT
        return int(self.state.get("ExitCode", 0) or 0)

    @property
    def error(self) -> str:
        return LOST_ERROR if self.supervisor_lost else self.state.get("Error", "")

    @property
    def finished_cleanly(self) -> bool:
        """The supervisor recorded the end of the last run."""
        return bool(self.state.get("FinishedAt")) and \
            self.state.get("FinishedAt", "") >= self.state.get("StartedAt", "")

    @property
    def labels(self) -> dict:
        return self.config.get("Labels") or {}


SUPERVISOR_LOCK = RD.SUPERVISOR_LOCK


def supervisor_alive(rundir: str) -> bool:
    """The supervisor holds an flock on supervisor.lock for its whole life
    (no child inherits it); the kernel releases it exactly at its death, so
    unlike kill(pid, 0) a reused PID cannot pass for it. Probing takes the
    lock shared for an instant; a supervisor claiming it retries past that."""
    import fcntl
    try:
        fd = os.open(os.path.join(rundir, SUPERVISOR_LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)            # closing releases a lock we took
    return False


PAUSED = RD.PAUSED       # in the run directory while `pause` holds the processes stopped


def read_runtime(layout: Layout, cid: str) -> dict:
    """supervisor.json if its supervisor is alive, else {}. Never writes."""
    rundir = layout.container_rundir(cid)
    try:
        with open(RD.path(rundir, RD.SUPERVISOR_JSON)) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict) or not supervisor_alive(rundir):
        return {}
    if info.get("status") == "running" and os.path.exists(os.path.join(rundir, PAUSED)):
        info["status"] = "paused"          # `pause` stopped its processes (SIGSTOP)
    return info


def load_containers(layout: Layout, datasets: dict[str, Dataset]) -> dict[str, Container]:
    prefix = layout.containers + "/"
    out: dict[str, Container] = {}
    for name, ds in datasets.items():
        if not name.startswith(prefix) or ds.is_snapshot or "/" in name[len(prefix):]:
            continue
        spec = P.decode_json(ds, "container.config")
        cname = ds.get("jocker:container.name")
        if not isinstance(spec, dict) or not cname:
            continue            # a torn create: the garbage collector's business
        cid = name[len(prefix):]
        out[cid] = Container(id=cid, name=cname, dataset=name, spec=spec,
                             state=P.decode_json(ds, "container.state", {}) or {},
                             rw_size=ds.int("usedbydataset"), size=ds.int("referenced"),
                             origin=ds.get("origin", ""), runtime=read_runtime(layout, cid))
    return out


def resolve(containers: dict[str, Container], ref: str) -> Container:
    """By name (with or without Docker's leading /), full ID or unique prefix."""
    if not ref:
        raise InvalidName("a container name or ID is required")
    name = ref[1:] if ref.startswith("/") else ref
    for c in containers.values():
        if c.name == name:
            return c
    if ref in containers:
        return containers[ref]
    matches = [c for cid, c in containers.items() if cid.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"container ID prefix {ref!r} is ambiguous; give more characters")
    raise NotFound(f"No such container: {ref}")
