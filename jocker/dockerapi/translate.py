"""Docker's container-create JSON (Config + HostConfig) to jocker's run
options, with the type checks a JSON body needs. This is the part of the
engine facade's `CreateRequest` the API server needs until that lands
(issue 8); backend.py is its only caller."""

from __future__ import annotations

from ..errors import UsageError


def _get(obj: dict, key: str, kind, default=None, where: str = ""):
    v = obj.get(key)
    if v is None:
        return default
    if kind is int and isinstance(v, bool):
        v = None
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if v is None or not isinstance(v, kind):
        name = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object",
                float: "number"}.get(kind, kind.__name__)
        raise UsageError(f"invalid {where}{key}: expected a JSON {name}, got {type(obj.get(key)).__name__}")
    return v


def _strings(obj: dict, key: str, where: str) -> list[str] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise UsageError(f"invalid {where}{key}: expected an array of strings")
    return v


def _restart(policy) -> str:
    if not policy:
        return "no"
    if not isinstance(policy, dict):
        raise UsageError("invalid HostConfig.RestartPolicy: expected an object")
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if not isinstance(name, str) or not isinstance(count, int):
        raise UsageError("invalid HostConfig.RestartPolicy")
    return f"{name}:{count}" if name == "on-failure" and count else name


def _mounts(host: dict) -> list[str]:
    """HostConfig.Mounts (the --mount form) as -v specifications."""
    out = []
    for m in host.get("Mounts") or []:
        if not isinstance(m, dict):
            raise UsageError("invalid HostConfig.Mounts: expected objects")
        kind, src, dst = m.get("Type", "volume"), m.get("Source", "") or "", m.get("Target", "")
        if kind not in ("bind", "volume") or not isinstance(dst, str) or not dst:
            raise UsageError(f"unsupported mount {m!r}: jocker mounts type bind or volume with a Target")
        spec = f"{src}:{dst}" if src else dst
        out.append(spec + (":ro" if m.get("ReadOnly") else ""))
    return out


def run_options(name: str | None, body: dict):
    """(RunOptions, warnings) for POST /containers/create."""
    from ..containers.create import RunOptions
    host = _get(body, "HostConfig", dict, {}, "")
    image = _get(body, "Image", str, "")
    if not image:
        raise UsageError("config.Image is required: which image should the container run?")
    entry = _strings(body, "Entrypoint", "Config.")
    cmd = _strings(body, "Cmd", "Config.") or []
    entrypoint = None
    if entry is not None:
        # jocker keeps one ENTRYPOINT word; the rest goes before the command.
        entrypoint = entry[0] if entry else ""
        cmd = list(entry[1:]) + list(cmd)
    env = [e for e in (_strings(body, "Env", "Config.") or []) if "=" in e]
    labels = _get(body, "Labels", dict, {}, "Config.")
    if not all(isinstance(v, str) for v in labels.values()):
        raise UsageError("invalid Config.Labels: values must be strings")
    binds = list(_strings(host, "Binds", "HostConfig.") or []) + _mounts(host)
    for target in (_get(body, "Volumes", dict, {}, "Config.") or {}):
        if not any(b.split(":")[1 if ":" in b else 0] == target for b in binds):
            binds.append(target)
    ports = _get(host, "PortBindings", dict, {}, "HostConfig.")
    publish = [f"{(b or {}).get('HostPort', '')}:{p}" for p, bs in ports.items() for b in (bs or [{}])]
    network = _get(host, "NetworkMode", str, "", "HostConfig.") or "host"
    if network == "default":
        network = "host"
    warnings: list[str] = []
    memory = _get(host, "Memory", int, 0, "HostConfig.")
    nano = _get(host, "NanoCpus", int, 0, "HostConfig.")
    pids = _get(host, "PidsLimit", int, 0, "HostConfig.")
    stop_timeout = _get(body, "StopTimeout", int, None, "Config.")
    opts = RunOptions(
        image=image, command=list(cmd), name=name or None, env=env,
        workdir=_get(body, "WorkingDir", str, "", "Config.") or None,
        user=_get(body, "User", str, "", "Config.") or None,
        hostname=_get(body, "Hostname", str, "", "Config.") or None,
        volumes=binds, entrypoint=entrypoint, restart=_restart(host.get("RestartPolicy")),
        memory=str(memory) if memory else None, cpus=nano / 1e9 if nano else None,
        pids_limit=pids if pids and pids > 0 else None,
        tty=_get(body, "Tty", bool, False, "Config."),
        interactive=_get(body, "OpenStdin", bool, False, "Config."),
        autoremove=_get(host, "AutoRemove", bool, False, "HostConfig."),
        labels=[f"{k}={v}" for k, v in labels.items()], network=network,
        publish=[p for p in publish if p],
        devices=[d.get("PathOnHost", "") if isinstance(d, dict) else str(d)
                 for d in (_get(host, "Devices", list, [], "HostConfig.") or [])],
        stop_signal=_get(body, "StopSignal", str, None, "Config."),
        stop_timeout=stop_timeout,
        read_only=_get(host, "ReadonlyRootfs", bool, False, "HostConfig."),
    )
    return opts, warnings


def label_filters(filters: dict[str, list[str]], allowed: tuple[str, ...] = ()) -> list:
    """prune's `label=K[=V]` / `label!=K[=V]` filters in the engine's form."""
    out = []
    for key, values in filters.items():
        if key in allowed:
            continue
        if key not in ("label", "label!"):
            raise UsageError(f"invalid filter '{key}'")
        for v in values:
            k, sep, val = v.partition("=")
            out.append((k, val if sep else None, key == "label"))
    return out
