"""What users see of containers: `ps` rows with Docker's STATUS wording,
filters, and Docker-shaped `inspect` JSON. Pure functions of the loaded state."""

from __future__ import annotations

import time
from typing import Any

from ..errors import NotFound, UsageError
from ..filters import label_filter, labels_match
from ..format import ago, human_duration
from ..times import parse_time
from .model import Container, load_containers, resolve



def status_text(c: Container, now: float | None = None) -> str:
    now = now or time.time()
    st = c.status
    if st == "running":
        started = parse_time(c.runtime.get("started_at") or c.state.get("StartedAt", ""))
        return f"Up {human_duration(now - started)}" if started else "Up"
    if st == "restarting":
        finished = parse_time(c.state.get("FinishedAt", ""))
        return f"Restarting ({c.exit_code}) {ago(finished, now)}"
    if st == "exited":
        finished = parse_time(c.state.get("FinishedAt", "")) if c.finished_cleanly else 0
        return f"Exited ({c.exit_code}) {ago(finished, now)}" if finished else f"Exited ({c.exit_code})"
    return "Created"


def command_text(c: Container) -> str:
    words = [c.spec.get("Path", "")] + list(c.spec.get("Args", []))
    return " ".join(words)


def _matches(c: Container, st, filters: list[tuple[str, str]]) -> bool:
    by_key: dict[str, list[str]] = {}
    for k, v in filters:
        by_key.setdefault(k, []).append(v)
    for key, values in by_key.items():          # OR within a key, AND across keys
        ok = False
        for v in values:
            if key == "id":
                ok |= c.id.startswith(v)
            elif key == "name":
                ok |= v in c.name
            elif key == "label":
                ok |= labels_match(c.labels, [label_filter(v)])
            elif key == "status":
                if v not in ("created", "running", "restarting", "exited", "paused", "removing", "dead"):
                    raise UsageError(f"invalid filter status={v!r}")
                ok |= c.status == v
            elif key == "exited":
                ok |= c.status == "exited" and str(c.exit_code) == v
            elif key == "ancestor":
                try:
                    ok |= st.resolve(v).id == c.image_id
                except NotFound:
                    pass
            elif key == "volume":
                ok |= any(m.get("Name") == v or m.get("Destination") == v for m in c.spec.get("Mounts", []))
        if not ok:
            return False
    return True


def container_list(engine, st, *, all_: bool = False, filters=(), last: int = -1,
                   now=None) -> list[dict[str, Any]]:
    """`GET /containers/json`: newest first, Docker's summary shape (Created
    in Unix seconds, sizes in bytes, Status in Docker's words)."""
    containers = load_containers(engine.layout, st.datasets)
    items = sorted(containers.values(), key=lambda c: c.spec.get("Created", ""), reverse=True)
    if last >= 0:
        all_ = True          # -n/-l imply -a; like Docker, filters apply first
    out = []
    for c in items:
        if not all_ and not c.running:
            continue
        if not _matches(c, st, list(filters)):
            continue
        if 0 <= last <= len(out):
            break
        img = st.images.get(c.image_id[7:])
        out.append({
            "Id": c.id, "Names": ["/" + c.name],
            "Image": c.config.get("Image") or (img.short if img else c.image_id[7:19]),
            "ImageID": c.image_id, "Command": command_text(c),
            "Created": int(parse_time(c.spec.get("Created", ""))),
            "CreatedAt": c.spec.get("Created", ""),
            "State": c.status, "Status": status_text(c, now), "Ports": [],
            "Labels": dict(c.labels), "SizeRw": c.rw_size, "SizeRootFs": c.size,
            "HostConfig": {"NetworkMode": c.host.get("NetworkMode", "host")},
            "NetworkSettings": {"Networks": {c.host.get("NetworkMode", "host"): {}}},
            "Mounts": [{k: v for k, v in m.items() if k != "New"} for m in c.spec.get("Mounts", [])],
        })
    return out


def inspect_container(engine, st, c: Container) -> dict[str, Any]:
    from .lifecycle import log_path
    state = c.state
    rt = c.runtime
    rootfs = engine.layout.container_rootfs(c.id)
    return {
        "Id": c.id,
        "Created": c.spec.get("Created", ""),
        "Path": c.spec.get("Path", ""),
        "Args": c.spec.get("Args", []),
        "State": {
            "Status": c.status, "Running": c.status == "running", "Paused": False,
            "Restarting": c.status == "restarting", "OOMKilled": False, "Dead": False,
            "Pid": int(rt.get("main_pid") or 0) if rt else 0, "ExitCode": c.exit_code if c.status != "created" else 0,
            "Error": state.get("Error", ""), "StartedAt": state.get("StartedAt", "0001-01-01T00:00:00Z"),
            "FinishedAt": state.get("FinishedAt", "0001-01-01T00:00:00Z"),
        },
        "Image": c.image_id,
        "ResolvConfPath": f"{rootfs}/etc/resolv.conf",
        "HostnamePath": f"{rootfs}/etc/hostname",
        "HostsPath": f"{rootfs}/etc/hosts",
        "LogPath": log_path(engine, c),
        "Name": "/" + c.name,
        "RestartCount": int(state.get("RestartCount", 0)),
        "Driver": "zfs",
        "Platform": engine.config.runtime_name() == "jail" and "freebsd" or "linux",
        "HostConfig": dict(c.host),
        "GraphDriver": {"Name": "zfs", "Data": {"Dataset": c.dataset, "Mountpoint": rootfs,
                                                "Origin": c.origin}},
        "SizeRw": c.rw_size,
        "SizeRootFs": c.size,
        "Mounts": [{k: v for k, v in m.items() if k != "New"} for m in c.spec.get("Mounts", [])],
        "Config": dict(c.config),
        "NetworkSettings": {"Networks": {c.host.get("NetworkMode", "host"): {}}},
    }
