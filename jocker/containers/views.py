"""What users see of containers: `ps` rows with Docker's STATUS wording,
filters, and Docker-shaped `inspect` JSON. Pure functions of the loaded state."""

from __future__ import annotations

import time
from typing import Any

from ..errors import NotFound, UsageError
from ..filters import label_filter, labels_match
from ..format import ago, human_duration
from ..net import views as net_views
from . import health as H
from ..times import parse_time
from .model import Container, load_containers, resolve


def health_of(engine, c: Container) -> dict | None:
    """Docker's State.Health as the supervisor last wrote it; None when the
    container has no healthcheck or has not run with it."""
    if H.schedule(c.config.get("Healthcheck")) is None:
        return None
    h = H.read(engine.layout.container_rundir(c.id))
    if h and not c.runtime and h["Status"] != H.UNHEALTHY:
        # Its supervisor died without stopping the monitor (SIGKILL): no
        # check runs any more, which Docker reports as unhealthy.
        h = dict(h, Status=H.UNHEALTHY)
    return h


def status_text(c: Container, now: float | None = None, health: dict | None = None) -> str:
    now = now or time.time()
    st = c.status
    if st in ("running", "paused"):
        started = parse_time(c.runtime.get("started_at") or c.state.get("StartedAt", ""))
        up = f"Up {human_duration(now - started)}" if started else "Up"
        if st == "paused":
            return up + " (Paused)"
        return f"{up} ({H.label(health['Status'])})" if health else up
    if st == "restarting":
        finished = parse_time(c.state.get("FinishedAt", ""))
        return f"Restarting ({c.exit_code}) {ago(finished, now)}"
    if st == "exited":
        finished = parse_time(c.state.get("FinishedAt", "")) if c.finished_cleanly else 0
        return f"Exited ({c.exit_code}) {ago(finished, now)}" if finished else f"Exited ({c.exit_code})"
    return "Created"


def command_text(c: Container) -> str:
    """The API's Command as moby lists it: Path, then the arguments, each
    one holding a space in single quotes (daemon/list.go)."""
    args = [f"'{a}'" if " " in a else a for a in c.spec.get("Args", [])]
    return " ".join([c.spec.get("Path", ""), *args]) if args else c.spec.get("Path", "")


def _matches(c: Container, st, filters: list[tuple[str, str]], health: dict | None = None) -> bool:
    by_key: dict[str, list[str]] = {}
    for k, v in filters:
        by_key.setdefault(k, []).append(v)
    for key, values in by_key.items():          # OR within a key, AND across keys
        if key == "label":                      # ...but every label must match, as in Docker
            if not labels_match(c.labels, [label_filter(v) for v in values]):
                return False
            continue
        ok = False
        for v in values:
            if key == "id":
                ok |= c.id.startswith(v)
            elif key == "name":
                ok |= v in c.name
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
            elif key == "health":
                ok |= (health["Status"] if health else H.NONE) == v
            elif key == "volume":
                ok |= any(m.get("Name") == v or m.get("Destination") == v for m in c.spec.get("Mounts", []))
        if not ok:
            return False
    return True


def container_list(engine, st, *, all_: bool = False, filters=(), last: int = -1,
                   now=None) -> list[dict[str, Any]]:
    """`GET /containers/json`: newest first, Docker's summary shape (Created
    in Unix seconds, sizes in bytes, Status in Docker's words)."""
    for key, v in filters:
        if key == "health" and v not in H.STATUSES:
            raise UsageError(f"Unrecognised filter value for health: {v}",
                             hint="use " + ", ".join(H.STATUSES))
    containers = load_containers(engine.layout, st.datasets)
    items = sorted(containers.values(), key=lambda c: c.spec.get("Created", ""), reverse=True)
    if last >= 0:
        all_ = True          # -n/-l imply -a; like Docker, filters apply first
    out = []
    for c in items:
        if not all_ and not c.running:
            continue
        health = health_of(engine, c)
        if not _matches(c, st, list(filters), health):
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
            "State": c.status, "Status": status_text(c, now, health), "Ports": net_views.api_ports(c),
            "Labels": dict(c.labels), "SizeRw": c.rw_size, "SizeRootFs": c.size,
            "HostConfig": {"NetworkMode": c.host.get("NetworkMode", "host")},
            "NetworkSettings": {"Networks": net_views.network_settings(engine, c)["Networks"]},
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
            "Status": c.status, "Running": c.status in ("running", "paused"),
            "Paused": c.status == "paused",
            "Restarting": c.status == "restarting", "OOMKilled": False, "Dead": False,
            "Pid": int(rt.get("main_pid") or 0) if rt else 0, "ExitCode": c.exit_code if c.status != "created" else 0,
            "Error": c.error, "StartedAt": state.get("StartedAt", "0001-01-01T00:00:00Z"),
            "FinishedAt": state.get("FinishedAt", "0001-01-01T00:00:00Z"),
            **({"Health": health} if (health := health_of(engine, c)) else {}),
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
