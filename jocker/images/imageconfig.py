"""Image configuration (the OCI/Docker image config JSON) and content IDs.

An image ID is `sha256:` of the canonical JSON of its config, as in Docker and
OCI. The exact bytes hashed are what the store keeps, so an ID can always be
re-verified from the ZFS properties.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

from ..times import now_rfc3339

# Docker's container-config keys, in the order `inspect` shows them.
CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
               "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
               "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal",
               "Shell")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_os() -> str:
    return os.uname().sysname.lower()


def host_arch() -> str:
    machine = os.uname().machine.lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "i386": "386", "i686": "386", "riscv64": "riscv64"}.get(machine, machine)


def canonical(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def image_id(config_bytes: bytes) -> str:
    import hashlib              # not at the top: every `run` imports this module
    return "sha256:" + hashlib.sha256(config_bytes).hexdigest()


def new_config(*, diff_ids: list[str], created: str | None = None, author: str = "",
               container_config: dict[str, Any] | None = None, history: list[dict] | None = None,
               parent: str = "", os_name: str | None = None, arch: str | None = None) -> dict[str, Any]:
    """A fresh image config with Docker's field names."""
    cfg: dict[str, Any] = {
        "architecture": arch or host_arch(),
        "os": os_name or host_os(),
        "created": created or now_rfc3339(),
        "config": container_config if container_config is not None else {"Env": [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history or [],
    }
    if author:
        cfg["author"] = author
    if parent:
        cfg["parent"] = parent
    return cfg


def derive(base: dict[str, Any] | None, *, parent: str = "") -> dict[str, Any]:
    """A copy of a parent config to change for a child image (build steps)."""
    cfg = copy.deepcopy(base) if base else new_config(diff_ids=[])
    cfg.pop("parent", None)
    if parent:
        cfg["parent"] = parent
    cfg["created"] = now_rfc3339()
    return cfg


def container_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg.get("config") or {}
