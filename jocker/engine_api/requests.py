"""The Docker-shaped create request, parsed once.

`CreateRequest.from_api` reads the Engine API's `POST /containers/create`
body (`Config` fields at the top level, `HostConfig`, `NetworkingConfig`);
`CreateRequest.from_cli` builds the same request from `run`/`create` flags.
Everything downstream (create, run, the API server) sees only this type.

Field names are Docker's own, so the request reads like the API documents
it. Fields the engine does not act on yet (ports, DNS, capabilities...) are
carried so the branches adding them find them here; `create` refuses those
it cannot honour rather than ignoring them silently. jocker's own extras
(boot dependencies, jail permissions and parameters, securelevel) live in a
separate FreeBSD/jocker section, `Jocker`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import UsageError
from ..format import parse_size

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
MIN_MEMORY = 6 << 20


@dataclass
class ContainerConfig:
    """Engine API `Config` (the top level of the create body)."""
    Image: str = ""
    Cmd: list[str] | None = None            # None: the image's CMD
    Entrypoint: list[str] | None = None     # None: the image's; [] or [""]: cleared
    Env: list[str] = field(default_factory=list)
    User: str = ""                          # "": the image's
    WorkingDir: str = ""                    # "": the image's, else /
    Labels: dict[str, str] = field(default_factory=dict)
    Tty: bool = False
    OpenStdin: bool = False
    StdinOnce: bool = False
    AttachStdin: bool = False
    AttachStdout: bool = True
    AttachStderr: bool = True
    StopSignal: str = ""
    StopTimeout: int | None = None
    Hostname: str = ""
    Domainname: str = ""
    ExposedPorts: dict[str, dict] = field(default_factory=dict)
    Healthcheck: dict | None = None
    Volumes: dict[str, dict] = field(default_factory=dict)   # anonymous volumes to create


@dataclass
class HostConfig:
    """Engine API `HostConfig`."""
    Binds: list[str] = field(default_factory=list)
    Mounts: list[dict] = field(default_factory=list)
    PortBindings: dict[str, list[dict]] = field(default_factory=dict)
    PublishAllPorts: bool = False
    NetworkMode: str = ""
    Dns: list[str] = field(default_factory=list)
    DnsSearch: list[str] = field(default_factory=list)
    DnsOptions: list[str] = field(default_factory=list)
    ExtraHosts: list[str] = field(default_factory=list)
    Links: list[str] = field(default_factory=list)         # NAME[:ALIAS] (docker-compose's links:)
    RestartPolicy: dict = field(default_factory=lambda: {"Name": "no", "MaximumRetryCount": 0})
    AutoRemove: bool = False
    CapAdd: list[str] = field(default_factory=list)
    CapDrop: list[str] = field(default_factory=list)
    Privileged: bool = False
    SecurityOpt: list[str] = field(default_factory=list)
    ReadonlyRootfs: bool = False
    Tmpfs: dict[str, str] = field(default_factory=dict)
    GroupAdd: list[str] = field(default_factory=list)
    Memory: int = 0
    NanoCpus: int = 0
    PidsLimit: int | None = None
    Devices: list[dict] = field(default_factory=list)      # {PathOnHost, PathInContainer, CgroupPermissions}
    Init: bool | None = None
    LogConfig: dict = field(default_factory=lambda: {"Type": "json-file", "Config": {}})


@dataclass
class EndpointConfig:
    """One entry of `NetworkingConfig.EndpointsConfig`."""
    Aliases: list[str] = field(default_factory=list)
    IPv4Address: str = ""          # from IPAMConfig.IPv4Address


@dataclass
class JockerConfig:
    """FreeBSD/jocker extras, not part of Docker's API (sent as `Jocker`)."""
    DependsOn: list[str] = field(default_factory=list)      # start these first at boot
    JailAllow: list[str] = field(default_factory=list)      # allow.* permissions
    JailParams: list[str] = field(default_factory=list)     # extra jail parameters KEY=VALUE
    JailSecurelevel: int | None = None                       # kern.securelevel, -1..3


@dataclass
class CreateRequest:
    config: ContainerConfig = field(default_factory=ContainerConfig)
    host: HostConfig = field(default_factory=HostConfig)
    endpoints: dict[str, EndpointConfig] = field(default_factory=dict)
    jocker: JockerConfig = field(default_factory=JockerConfig)
    name: str | None = None

    @property
    def image(self) -> str:
        return self.config.Image

    # -- from the Engine API -----------------------------------------------
    @classmethod
    def from_api(cls, body: dict, name: str | None = None) -> "CreateRequest":
        """Parse a `POST /containers/create` body (unknown fields are ignored,
        as Docker does; wrong types are refused)."""
        if not isinstance(body, dict):
            raise UsageError("the create request must be a JSON object")
        config = _fill(ContainerConfig, body, "")
        host = _fill(HostConfig, body.get("HostConfig") or {}, "HostConfig.")
        endpoints = {}
        net = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if not isinstance(net, dict):
            raise UsageError("NetworkingConfig.EndpointsConfig must be an object")
        for netname, ep in net.items():
            ep = ep or {}
            endpoints[netname] = EndpointConfig(
                Aliases=list(ep.get("Aliases") or []),
                IPv4Address=str((ep.get("IPAMConfig") or {}).get("IPv4Address") or ""))
        jocker = _fill(JockerConfig, body.get("Jocker") or {}, "Jocker.")
        host.Mounts, tmpfs_mounts = _split_tmpfs_mounts(host.Mounts)
        host.Tmpfs = {**host.Tmpfs, **tmpfs_mounts}
        req = cls(config, host, endpoints, jocker, name)
        req.validate()
        return req

    def to_api(self) -> dict:
        """The request as an Engine API create body (round-trips from_api)."""
        body: dict[str, Any] = asdict(self.config)
        body["HostConfig"] = asdict(self.host)
        body["NetworkingConfig"] = {"EndpointsConfig": {
            n: {"Aliases": e.Aliases, "IPAMConfig": {"IPv4Address": e.IPv4Address} if e.IPv4Address else None}
            for n, e in self.endpoints.items()}}
        body["Jocker"] = asdict(self.jocker)
        return body

    # -- from the CLI's flags ------------------------------------------------
    @classmethod
    def from_cli(cls, image: str, command: list[str] | tuple = (), *, name: str | None = None,
                 env: list[str] | tuple = (), env_files: list[str] | tuple = (),
                 workdir: str | None = None, user: str | None = None, hostname: str | None = None,
                 group_add: list[str] | tuple = (),
                 volumes: list[str] | tuple = (), entrypoint: str | None = None, restart: str = "no",
                 memory: str | None = None, cpus: float | None = None, pids_limit: int | None = None,
                 tty: bool = False, interactive: bool = False, autoremove: bool = False,
                 labels: list[str] | tuple = (), network: str = "", publish: list[str] | tuple = (),
                 publish_all: bool = False, ip: str | None = None,
                 network_aliases: list[str] | tuple = (), dns: list[str] | tuple = (),
                 dns_search: list[str] | tuple = (), dns_options: list[str] | tuple = (),
                 add_hosts: list[str] | tuple = (),
                 devices: list[str] | tuple = (), allow: list[str] | tuple = (),
                 jail_params: list[str] | tuple = (), securelevel: int | None = None,
                 stop_signal: str | None = None, stop_timeout: int | None = None,
                 depends_on: list[str] | tuple = (), read_only: bool = False,
                 tmpfs: list[str] | tuple = (),
                 cap_add: list[str] | tuple = (), cap_drop: list[str] | tuple = (),
                 privileged: bool = False, security_opt: list[str] | tuple = (),
                 healthcheck: dict | None = None,
                 environ: dict[str, str] | None = None) -> "CreateRequest":
        """`environ` is the client's environment (`-e NAME` passes its value);
        `healthcheck` comes from parse_health_flags."""
        if cpus is not None and not (math.isfinite(cpus) and 0 < cpus <= 1 << 20):
            raise UsageError(f"invalid --cpus {cpus}: it must be a number of CPUs greater than 0")
        if stop_signal is not None and not stop_signal.strip():
            raise UsageError("invalid --stop-signal '': give a signal name or number")
        config = ContainerConfig(
            Image=image, Cmd=list(command) or None,
            Entrypoint=None if entrypoint is None else ([entrypoint] if entrypoint else []),
            Env=parse_env(list(env), list(env_files), os.environ if environ is None else environ),
            User=user or "", WorkingDir=workdir or "", Labels=parse_labels(list(labels)),
            Tty=tty, OpenStdin=interactive, AttachStdin=interactive, StopSignal=stop_signal or "",
            StopTimeout=stop_timeout, Hostname=hostname or "", Healthcheck=healthcheck)
        host = HostConfig(
            Binds=list(volumes), PortBindings=parse_publish(list(publish)), NetworkMode=network,
            GroupAdd=list(group_add), Tmpfs=_tmpfs(tmpfs),
            PublishAllPorts=publish_all, Dns=list(dns), DnsSearch=list(dns_search),
            DnsOptions=list(dns_options), ExtraHosts=list(add_hosts),
            RestartPolicy=parse_restart(restart), AutoRemove=autoremove, ReadonlyRootfs=read_only,
            CapAdd=list(cap_add), CapDrop=list(cap_drop), Privileged=privileged,
            SecurityOpt=list(security_opt),
            Memory=parse_memory(memory), NanoCpus=int((cpus or 0) * 1e9), PidsLimit=pids_limit,
            Devices=[{"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"} for d in devices])
        jocker = JockerConfig(DependsOn=list(depends_on), JailAllow=list(allow),
                              JailParams=list(jail_params), JailSecurelevel=securelevel)
        endpoints = {}
        if ip or network_aliases:
            endpoints[network or "bridge"] = EndpointConfig(Aliases=list(network_aliases),
                                                            IPv4Address=ip or "")
        req = cls(config, host, endpoints, jocker, name)
        req.validate()
        return req

    def validate(self) -> None:
        """Checks that need no engine state; create does the rest."""
        from ..names import check_object_name
        if self.name is not None:
            check_object_name(self.name)
        if not self.config.Image:
            raise UsageError("an image is required")
        j, h = self.jocker, self.host
        check_hostname(self.config.Hostname)
        check_user(self.config.User)
        if j.JailSecurelevel is not None and not -1 <= j.JailSecurelevel <= 3:
            raise UsageError(f"invalid --securelevel {j.JailSecurelevel}: use -1, 0, 1, 2 or 3")
        from ..runtime.security import plan_security     # refuses unknown capabilities and options
        plan_security(privileged=h.Privileged, cap_add=h.CapAdd, cap_drop=h.CapDrop,
                      security_opt=h.SecurityOpt)
        check_nano_cpus(h.NanoCpus)
        if h.Memory and h.Memory < MIN_MEMORY:
            raise UsageError(f"invalid memory limit {h.Memory}: the minimum is 6m")
        policy = h.RestartPolicy.get("Name") or "no"
        if policy not in RESTART_POLICIES:
            raise UsageError(f"invalid restart policy {policy!r}",
                             hint="use no, on-failure[:max-retries], always or unless-stopped")
        if policy != "no" and h.AutoRemove:
            raise UsageError("conflicting options: --restart and --rm")
        for dep in j.DependsOn:
            check_object_name(dep)
        from ..net.hosts import parse_link
        for link in h.Links:
            parse_link(link)
        from ..containers.health import validate as validate_health
        validate_health(self.config.Healthcheck)


@dataclass
class UpdateRequest:
    """`POST /containers/{id}/update` and `jocker update`: the resources and
    restart policy to change. None (or Docker's zero value, which its CLI
    sends for every flag not given) leaves a setting as it is; PidsLimit 0 or
    -1 lifts the limit, as in Docker."""
    RestartPolicy: dict | None = None
    Memory: int | None = None
    MemorySwap: int | None = None
    NanoCpus: int | None = None
    CpuShares: int | None = None
    CpuQuota: int | None = None
    CpuPeriod: int | None = None
    PidsLimit: int | None = None

    @classmethod
    def from_api(cls, body: dict) -> "UpdateRequest":
        req = _fill(cls, body if body is not None else {}, "")
        if req.RestartPolicy is not None and not (req.RestartPolicy.get("Name") or ""):
            req.RestartPolicy = None
        for name in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod"):
            if getattr(req, name) == 0:
                setattr(req, name, None)
        return req

    @classmethod
    def from_cli(cls, *, restart: str | None = None, memory: str | None = None,
                 memory_swap: str | None = None, cpus: float | None = None, cpu_shares: int | None = None,
                 cpu_quota: int | None = None, cpu_period: int | None = None,
                 pids_limit: int | None = None) -> "UpdateRequest":
        if cpus is not None and not (math.isfinite(cpus) and 0 < cpus <= 1 << 20):
            raise UsageError(f"invalid --cpus {cpus}: it must be a number of CPUs greater than 0")
        swap = None
        if memory_swap is not None:
            swap = -1 if memory_swap.strip() == "-1" else _size("--memory-swap", memory_swap)
        req = cls(RestartPolicy=parse_restart(restart) if restart is not None else None,
                  Memory=parse_memory(memory) or None, MemorySwap=swap,
                  NanoCpus=int(cpus * 1e9) if cpus is not None else None, CpuShares=cpu_shares,
                  CpuQuota=cpu_quota, CpuPeriod=cpu_period, PidsLimit=pids_limit)
        if req.empty:
            raise UsageError("you must provide one or more flags when using this command",
                             hint="e.g. jocker update --memory 512m --restart always web")
        req.apply({})           # the checks that need no container, once, before any is changed
        return req

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def apply(self, host: dict) -> dict:
        """The container's HostConfig with this update, checked as dockerd
        checks it (against what the container already has)."""
        out = dict(host)
        for f in fields(self):
            if getattr(self, f.name) is not None:
                out[f.name] = getattr(self, f.name)
        if self.RestartPolicy is not None:
            policy = self.RestartPolicy.get("Name") or "no"
            if policy not in RESTART_POLICIES:
                raise UsageError(f"invalid restart policy {policy!r}",
                                 hint="use no, on-failure[:max-retries], always or unless-stopped")
            count = self.RestartPolicy.get("MaximumRetryCount") or 0
            if not isinstance(count, int) or count < 0 or (count and policy != "on-failure"):
                raise UsageError(f"invalid restart policy {self.RestartPolicy}: a maximum retry count "
                                 "is for on-failure only, and not negative")
            if policy != "no" and host.get("AutoRemove"):
                raise UsageError("Restart policy cannot be updated because AutoRemove is enabled "
                                 "for the container")
            out["RestartPolicy"] = {"Name": policy, "MaximumRetryCount": count}
        mem, swap = out.get("Memory") or 0, out.get("MemorySwap") or 0
        if self.Memory is not None and not MIN_MEMORY <= self.Memory <= MAX_INT64:
            raise UsageError("Minimum memory limit allowed is 6MB")        # dockerd's words
        if mem and swap > 0 and swap < mem:
            raise UsageError("Minimum memoryswap limit should be larger than memory limit, see usage"
                             if self.MemorySwap is not None else
                             "Memory limit should be smaller than already set memoryswap limit, "
                             "update the memoryswap at the same time")
        if self.MemorySwap is not None and self.MemorySwap < -1:
            raise UsageError(f"invalid memory swap limit {self.MemorySwap}: -1 or a size")
        if self.NanoCpus is not None:
            check_nano_cpus(self.NanoCpus)
        if self.CpuShares is not None and self.CpuShares < 0:
            raise UsageError(f"invalid CpuShares {self.CpuShares}: it must not be negative")
        if self.CpuPeriod is not None and not 1000 <= self.CpuPeriod <= 1000000:
            raise UsageError("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                             "(i.e. 1000000)")
        if self.CpuQuota is not None and 0 < self.CpuQuota < 1000:     # -1 and 0: unlimited
            raise UsageError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        if self.CpuQuota is not None and self.CpuQuota <= 0:
            out["CpuQuota"] = 0
        if out.get("NanoCpus") and (out.get("CpuQuota") or out.get("CpuPeriod")):
            raise UsageError("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set",
                             hint="give --cpus, or --cpu-period with --cpu-quota")
        if self.PidsLimit is not None and self.PidsLimit <= 0:
            out["PidsLimit"] = None          # 0 and -1: unlimited
        return out


def check_nano_cpus(nano: int) -> None:
    """dockerd's range: 0 (no limit), else 0.01 CPU up to the host's CPUs.
    Smaller values cannot be an rctl pcpu rule (whole percents)."""
    import os
    ncpu = os.cpu_count() or 1
    if nano and not 10**7 <= nano <= ncpu * 10**9:
        raise UsageError(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")


def _size(flag: str, value: str) -> int:
    try:
        n = parse_size(value)
    except ValueError:
        raise UsageError(f"invalid {flag} {value!r}: use a size like 512m or 2g") from None
    if n > MAX_INT64:
        raise UsageError(f"invalid {flag} {value!r}: it is larger than any machine's memory")
    return n


@dataclass
class BuildOptions:
    """`POST /build` parameters (`jocker build` flags)."""
    context: str
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    network: str = "default"
    dockerfile_text: str | None = None     # `-f -`: the Dockerfile came on stdin


def _split_tmpfs_mounts(mounts: list) -> tuple[list, dict[str, str]]:
    """`HostConfig.Mounts` entries of type tmpfs (`--mount type=tmpfs`,
    compose's long syntax) as `HostConfig.Tmpfs` (path -> options); the rest."""
    rest, tmpfs = [], {}
    for m in mounts:
        if not isinstance(m, dict):
            raise UsageError("HostConfig.Mounts entries must be objects")
        if m.get("Type") != "tmpfs":
            rest.append(m)
            continue
        target = m.get("Target") or ""
        opts = m.get("TmpfsOptions") or {}
        if not isinstance(opts, dict):
            raise UsageError(f"HostConfig.Mounts: TmpfsOptions of {target or 'a tmpfs mount'} must be an object")
        for key in ("SizeBytes", "Mode"):
            if opts.get(key) is not None and (type(opts[key]) is not int or opts[key] < 0):
                raise UsageError(f"HostConfig.Mounts: TmpfsOptions.{key} of {target or 'a tmpfs mount'} "
                                 f"must be a non-negative integer, not {opts[key]!r}")
        words = ([f"size={opts['SizeBytes']}"] if opts.get("SizeBytes") else []) + \
            ([f"mode={opts['Mode']:o}"] if opts.get("Mode") else []) + (["ro"] if m.get("ReadOnly") else [])
        tmpfs[target] = ",".join(words)
    return rest, tmpfs


def _fill(cls, src: dict, where: str):
    """A dataclass from the keys of src that name its fields, type-checked."""
    if not isinstance(src, dict):
        raise UsageError(f"{where.rstrip('.') or 'the request'} must be a JSON object")
    kw = {}
    for f in fields(cls):
        if f.name not in src or src[f.name] is None:
            continue
        value = src[f.name]
        want = str(f.type)
        ok = (("list" in want and isinstance(value, list)) or ("dict" in want and isinstance(value, dict))
              or ("bool" in want and isinstance(value, bool))
              or ("int" in want and isinstance(value, int) and not isinstance(value, bool))
              or ("str" in want and "list" not in want and "dict" not in want and isinstance(value, str)))
        if not ok:
            raise UsageError(f"invalid {where}{f.name}: {value!r} is not a valid {want}")
        kw[f.name] = value
    return cls(**kw)


# -- Docker's flag value syntaxes ---------------------------------------------

def parse_restart(value: str) -> dict:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES or (count and name != "on-failure"):
        raise UsageError(f"invalid restart policy {value!r}",
                         hint="use no, on-failure[:max-retries], always or unless-stopped")
    if count and not count.isdigit():
        raise UsageError(f"invalid restart policy {value!r}: max-retries must be a number")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


MAX_INT64 = (1 << 63) - 1


def check_hostname(name: str) -> None:
    """Linux refuses more than 64 bytes (HOST_NAME_MAX), jail(8) likewise;
    RFC 1123 letters, digits, '-' and '.' only."""
    if not name:
        return
    if len(name.encode()) > 64 or not all(c.isascii() and (c.isalnum() or c in "-._") for c in name) \
            or name.startswith(("-", ".")):
        raise UsageError(f"invalid hostname {name!r}: at most 64 letters, digits, '-', '_' and '.'")


def check_user(user: str) -> None:
    """--user NAME|UID[:GROUP|GID]: numeric ids within 0..2^31-1 (checked by
    identity.id_number, the one home of that rule)."""
    from ..containers.identity import id_number
    for what, part in zip(("user", "group"), user.split(":", 1) if user else ()):
        if any(c in part for c in "\0\n/"):
            raise UsageError(f"invalid user {user!r}: NUL, newline and '/' are not allowed")
        id_number(part, what)


def parse_health_flags(*, cmd: str | None = None, interval: str | None = None,
                       timeout: str | None = None, start_period: str | None = None,
                       start_interval: str | None = None, retries: int | None = None,
                       disabled: bool = False) -> dict | None:
    """--health-cmd/--health-interval/--health-timeout/--health-start-period/
    --health-start-interval/--health-retries/--no-healthcheck as Docker's CLI
    turns them into Config.Healthcheck (durations in ns, zeros left out; the
    image's values fill what is left out). None: the image's healthcheck."""
    durations = {}
    for flag, key, text in (("interval", "Interval", interval), ("timeout", "Timeout", timeout),
                            ("start-period", "StartPeriod", start_period),
                            ("start-interval", "StartInterval", start_interval)):
        if text is None:
            continue
        from ..builder.values import parse_duration     # decimal, fractions: only for a flag given
        try:
            durations[key] = parse_duration(text)
        except ValueError:
            raise UsageError(f"invalid --health-{flag} {text!r}: use a duration like 30s, 1m30s or 500ms") from None
        if durations[key] < 0:
            raise UsageError(f"--health-{flag} cannot be negative")
    if retries is not None and retries < 0:
        raise UsageError("--health-retries cannot be negative")
    given = bool(cmd) or any(durations.values()) or bool(retries)
    if disabled:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    hc: dict = {"Test": ["CMD-SHELL", cmd]} if cmd else {}
    hc.update({k: v for k, v in durations.items() if v})
    if retries:
        hc["Retries"] = retries
    return hc


def parse_memory(value: str | None) -> int:
    if not value:
        return 0
    n = _size("--memory", value)
    if n < MIN_MEMORY:
        raise UsageError(f"invalid --memory {value!r}: the minimum is 6m")
    return n


def parse_env(items: list[str], files: list[str], environ) -> list[str]:
    """-e KEY=VALUE, -e KEY (the client's value, if set) and --env-file lines."""
    out: list[str] = []
    from_files: list[str] = []
    for path in files:
        from_files += env_file_lines(path)
    items = from_files + list(items)
    for item in items:
        key, sep, value = item.partition("=")
        if not key or any(c in key for c in " \t\n\0") or "\0" in value:
            raise UsageError(f"invalid environment variable {item!r}")
        if not sep:
            if key in environ:
                out.append(f"{key}={environ[key]}")
            continue
        out.append(f"{key}={value}")
    return out


def _tmpfs(items: list[str] | tuple) -> dict[str, str]:
    """--tmpfs PATH[:OPTIONS] flags as HostConfig.Tmpfs."""
    from ..runtime.tmpfs import parse
    return dict(parse(item) for item in items)


def env_file_lines(path: str) -> list[str]:
    """An --env-file's KEY=value and KEY lines as the docker CLI reads them
    (opts/envfile.go): leading whitespace and comment lines go, the value is
    passed through untrimmed (only the line break goes), a key with
    whitespace is an error."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"--env-file {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path}: invalid utf8 bytes") from None
    out = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if any(c in key for c in " \t\n\v\f\r"):
            raise UsageError(f"--env-file {path}:{lineno}: variable '{key}' contains whitespaces")
        if not key:
            raise UsageError(f"--env-file {path}:{lineno}: no variable name on line '{line}'")
        out.append(key + sep + value)
    return out


def parse_labels(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid label {item!r}")
        out[k] = v
    return out


def parse_publish(items: list[str]) -> dict[str, list[dict]]:
    """-p [ip:][hostPort:]containerPort[/proto] -> PortBindings (jocker/net/ports.py)."""
    if not items:
        return {}               # no import of the port parser (ipaddress, decimal) for a plain run
    from ..net.ports import parse_publish as parse
    return parse(items)
