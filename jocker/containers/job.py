"""The supervisor's job: everything the engine tells a supervisor about the
container it is to run, written to `<rundir>/<id>/job.json`. A plain class
with slots, not a dataclass: the supervisor stays small (see
tests/unit/test_supervisor_closure.py)."""

from __future__ import annotations

import json

# The supervisor's answer on the ready pipe when another one runs the container.
ALREADY_RUNNING = "the container is already running"


class Job:
    __slots__ = ("id", "name", "rundir", "runtime", "spec", "devfs_ruleset", "restart", "autoremove",
                 "attach", "log_path", "stop_signal", "stop_timeout", "state", "storage", "store_dirs",
                 "healthcheck", "events")

    def __init__(self, *, id: str = "", name: str = "", rundir: str, runtime: str = "linux",
                 spec: dict, devfs_ruleset: int = 100, restart: dict | None = None,
                 autoremove: bool = False, attach: bool = False, log_path: str,
                 stop_signal: str = "SIGTERM", stop_timeout: float = 10, state: dict | None = None,
                 storage: dict | None = None, store_dirs: list[str] | None = None,
                 healthcheck: dict | None = None, events: dict | None = None):
        self.id = id                      # the container's ID
        self.name = name
        self.rundir = rundir              # <rundir>/<id>
        self.runtime = runtime            # "jail" or "linux"
        self.spec = spec                  # the runtime spec (runtime.spec.ContainerSpec as JSON)
        self.devfs_ruleset = int(devfs_ruleset)
        self.restart = restart or {"Name": "no"}      # Docker's RestartPolicy
        self.autoremove = bool(autoremove)            # --rm: the supervisor removes the container
        self.attach = bool(attach)        # wait for an attach client before starting
        self.log_path = log_path          # the json-file log
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.state = dict(state or {})    # the container's State so far (restart count...)
        self.storage = dict(storage or {})   # what remove.destroy_storage needs (--rm)
        self.store_dirs = list(store_dirs or [])   # where clones mount (Layout.clone_mount_dirs)
        self.healthcheck = healthcheck    # health.schedule(): what the supervisor probes, or None
        self.events = events              # {"journal": path, "attributes": {...}} (events/produce.py)

    @classmethod
    def from_dict(cls, d: dict) -> "Job":
        known = {k: d[k] for k in cls.__slots__ if k in d}
        if "storage" not in d:           # the storage keys at the top level (older jobs)
            known["storage"] = {k: d[k] for k in ("dataset", "container_dir", "rundir", "anon_volumes",
                                                  "zfs_driver") if k in d}
        return cls(**known)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def save(self, path: str) -> None:
        from ..atomic import write_atomic
        write_atomic(path, json.dumps(self.to_dict()), 0o600)

    @classmethod
    def load(cls, path: str) -> "Job":
        with open(path) as f:
            return cls.from_dict(json.load(f))
