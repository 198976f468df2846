"""What users see of containers: `ps` rows with Docker's STATUS wording,
filters, and Docker-shaped `inspect` JSON. Pure functions of the loaded state."""

from __future__ import annotations

import time
from typing import Any

from ..errors import NotFound, UsageError
from ..format import ago, human_duration, human_size
from ..images.imageconfig import parse_time
from ..net import views as net_views
from .model import Container, load_containers, resolve

PS_FILTERS = ("id", "name", "label", "status", "ancestor", "exited", "volume")


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
                k, sep, val = v.partition("=")
                ok |= k in c.labels and (not sep or c.labels[k] == val)
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


def ps_rows(engine, st, *, all_: bool = False, filters=(), last: int = -1, now=None) -> list[dict[str, Any]]:
    containers = load_containers(engine.layout, st.datasets)
    items = sorted(containers.values(), key=lambda c: c.spec.get("Created", ""), reverse=True)
    if last >= 0:
        all_ = True          # -n/-l imply -a; like Docker, filters apply first
    rows = []
    for c in items:
        if not all_ and not c.running:
            continue
        if not _matches(c, st, list(filters)):
            continue
        if 0 <= last <= len(rows):
            break
        img = st.images.get(c.image_id[7:])
        image_name = c.config.get("Image") or (img.short if img else c.image_id[7:19])
        rows.append({
            "ID": c.short, "FullID": c.id, "Image": image_name, "Command": command_text(c),
            "CreatedAt": c.spec.get("Created", ""),
            "RunningFor": ago(parse_time(c.spec.get("Created", "")), now),
            "Status": status_text(c, now), "State": c.status, "Ports": net_views.ps_ports(c), "Names": c.name,
            "Size": f"{human_size(c.rw_size)} (virtual {human_size(c.size)})",
            "Labels": ",".join(f"{k}={v}" for k, v in c.labels.items()),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.spec.get("Mounts", [])),
            "Networks": ",".join(net_views.network_settings(engine, c)["Networks"]),
        })
    return rows


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
        "NetworkSettings": net_views.network_settings(engine, c),
    }


def inspect_by_name(engine, st, name: str):
    """For the generic `inspect`: None when no container has that name or ID."""
    try:
        c = resolve(load_containers(engine.layout, st.datasets), name)
    except NotFound:
        return None
    return inspect_container(engine, st, c)
