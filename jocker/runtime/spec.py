"""What a runtime driver needs to know to run one container.

Pure data: the engine fills it from the image config and the run flags;
drivers (jail, Linux namespaces) only carry it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .security import plan_security


@dataclass
class Mount:
    source: str            # absolute host path (a directory, a volume's mountpoint, or a file)
    target: str            # absolute path inside the container
    readonly: bool = False
    kind: str = "bind"     # bind (nullfs on FreeBSD) | volume | tmpfs
    options: str = ""      # tmpfs: Docker's --tmpfs options (runtime/tmpfs.py)


@dataclass
class Limits:
    memory: int | None = None      # bytes (--memory)
    cpus: float | None = None      # number of CPUs, may be fractional (--cpus)
    pids: int | None = None        # --pids-limit


@dataclass
class JailOptions:
    """The FreeBSD section of a spec: what only jail(8) takes. The Linux
    namespace driver ignores it (its `--device`/`--cap-add` equivalents live
    in `security`)."""
    devices: list[str] = field(default_factory=list)    # extra /dev globs to unhide, e.g. "bpf*"
    allow: list[str] = field(default_factory=list)      # allow.* names, e.g. "raw_sockets"
    params: dict[str, str] = field(default_factory=dict)  # --jail-param KEY=VALUE
    securelevel: int | None = None


@dataclass
class ContainerSpec:
    id: str                        # 64 hex characters
    name: str                      # validated container name
    rootfs: str                    # host path of the container's clone mountpoint
    rundir: str                    # volatile per-container directory (/var/run/jocker/<id>)
    argv: list[str]                # entrypoint + cmd, already resolved
    hostname: str = ""
    env: list[str] = field(default_factory=list)       # "KEY=value"
    user: str = ""                 # "", "name", "uid", "uid:gid", "name:group"
    group_add: list[str] = field(default_factory=list)  # --group-add names or gids
    workdir: str = "/"
    tty: bool = False
    stdin_open: bool = False
    mounts: list[Mount] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    network: str = "host"          # host | none | bridge (a stack of its own on jocker's networks)
    net: dict = field(default_factory=dict)   # the attachment (jocker/net/attachment.py)
    jail: JailOptions = field(default_factory=JailOptions)   # FreeBSD only
    # security.plan_security(): capabilities, no_new_privs, seccomp, confinement
    security: dict = field(default_factory=plan_security)
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10

    @property
    def short_id(self) -> str:
        return self.id[:12]


# The one serialisation of a spec (the supervisor's job, jail_create, nsinit's
# input) is runtime.base.spec_to_dict, which the supervisor can import; this
# is its inverse.
def from_dict(d: dict) -> ContainerSpec:
    from .base import upgrade_spec_dict
    s = upgrade_spec_dict(d)
    s["mounts"] = [Mount(**m) for m in s.get("mounts", [])]
    s["limits"] = Limits(**(s.get("limits") or {}))
    s["jail"] = JailOptions(**(s.get("jail") or {}))
    return ContainerSpec(**s)
