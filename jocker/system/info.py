"""`jocker info`, `jocker version` and `jocker system df`: facts gathered by
the engine, formatted by the CLI."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from .. import API_VERSION, __version__


def version_info() -> dict[str, Any]:
    return {"Version": __version__, "ApiVersion": API_VERSION, "PythonVersion": platform.python_version(),
            "Os": platform.system().lower(), "Arch": platform.machine(),
            "KernelVersion": platform.release()}


def engine_info(engine, st) -> dict[str, Any]:
    cfg = engine.config
    containers = _container_counts(engine, st)
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = 0
    return {
        "Containers": containers["total"], "ContainersRunning": containers["running"],
        "ContainersPaused": 0, "ContainersStopped": containers["total"] - containers["running"],
        "Images": len(st.images),
        "Driver": "zfs",
        "DriverStatus": [["Root Dataset", cfg.root], ["Mountpoint", cfg.mountpoint],
                         ["ZFS Driver", engine.zfs.name],
                         ["Embedded Pool", cfg.pool_file if cfg.embedded else "no"]],
        "Runtime": cfg.runtime_name(),
        "KernelVersion": platform.release(),
        "OperatingSystem": platform.system(),
        "OSType": platform.system().lower(),
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": mem,
        "Name": platform.node(),
        "ServerVersion": __version__,
        "JockerRootDir": cfg.mountpoint,
        "RunDir": cfg.rundir,
        "ConfigFile": cfg.file or "(none)",
        "ConfigSources": {k: v for k, v in cfg.sources.items() if v != "default"},
        "Python": sys.version.split()[0],
    }


def _container_counts(engine, st) -> dict[str, int]:
    prefix = engine.layout.containers + "/"
    ids = [n[len(prefix):] for n, ds in st.datasets.items()
           if n.startswith(prefix) and not ds.is_snapshot and "/" not in n[len(prefix):]]
    from ..containers.status import running_ids
    running = len(running_ids(engine) & set(ids))
    return {"total": len(ids), "running": running}
