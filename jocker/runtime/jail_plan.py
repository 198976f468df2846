"""Pure planning for the FreeBSD jail driver: no I/O, only text and argv lists.

Everything the driver runs or writes is computed from a ContainerSpec, so
golden tests can pin it down on Linux. This module holds the jail's name
and parameters (jail.conf) and the whole plan; its neighbours hold the other
concepts: jail_mounts (fstab, mount points), jail_devfs (rulesets),
jail_rctl (limits), jail_exec (the process inside). See
reference/freebsd.md sections 1, 2, 5, 6. Items marked [U] are unconfirmed
on a real FreeBSD host.

No dataclasses, typing or jinja2 at import time: the per-container
supervisor imports this module (tests/unit/test_supervisor_imports.py).
"""

from __future__ import annotations

import re

from .. import rundir as RD
from ..errors import InvalidName, UsageError
from ..signals import short_name
from . import jail_devfs as devfs
from . import jail_mounts as mounts
from . import jail_rctl as rctl
from .jail_devfs import (  # noqa: F401  (the plan's public names)
    applyset_command, parse_showsets, ruleset_commands, showsets_command, validate_devices)
from .jail_mounts import (  # noqa: F401
    FstabEntry, MountTarget, container_path, fstab_entries, leftover_mounts, mount_list_command,
    render_fstab, umount_command, unmount_order)
from .jail_rctl import racct_command, rctl_add_commands, rctl_remove_command, rctl_rules  # noqa: F401

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spec import ContainerSpec

JAIL_PREFIX = "jk_"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ID_RE = re.compile(r"^[0-9a-f]{12,64}$")
PARAM_KEY_RE = re.compile(r"^[a-z][a-z0-9_.]*$")
ALLOW_SYSCTL = "security.jail.param.allow"

# allow.* names jail(8) documents (reference 1.2): only for plans made
# without asking a kernel (tests); the driver asks `sysctl -N` (allow_command).
DOCUMENTED_ALLOW = frozenset({
    "set_hostname", "reserved_ports", "raw_sockets", "chflags", "mlock", "quotas",
    "read_msgbuf", "socket_af", "nfsd", "unprivileged_proc_debug", "suser",
    "extattr", "adjtime", "settime", "routing", "setaudit",
})
# Docker's defaults where jail(8)'s differ: CAP_NET_RAW is in Docker's default
# set (ping works), sethostname(2) needs CAP_SYS_ADMIN (it does not). jail(8)
# has allow.set_hostname on and allow.raw_sockets off (jail.8).
DOCKER_ALLOW = (("raw_sockets", True), ("set_hostname", False))
# Parameters jocker sets itself; --jail-param may not touch them.
MANAGED_PARAMS = frozenset({
    "name", "jid", "path", "persist", "dying", "parent", "vnet", "devfs_ruleset",
    "enforce_statfs", "securelevel", "host.hostname", "ip4", "ip6", "command",
    "depend", "interface", "ip_hostname", "stop.timeout", "allow.sysvipc",
})
MANAGED_PREFIXES = ("mount", "exec", "vnet", "ip4", "ip6", "children")
SYSV_DEFAULTS = (("sysvshm", "new"), ("sysvsem", "new"), ("sysvmsg", "new"))


class JailConfig:
    """Host-side knobs (jocker.conf). Ruleset numbers are global on the host.

    base_ruleset: plain containers; vnet_ruleset: VNET containers (base + pf);
    device_rulesets: per-container sets for --device; state_dir holds the
    lock under which rulesets change; devfs_rules: the admin's file, whose
    ruleset numbers jocker never touches.
    """

    __slots__ = ("base_ruleset", "vnet_ruleset", "device_rulesets", "state_dir", "devfs_rules")

    def __init__(self, base_ruleset: int = 100, vnet_ruleset: int | None = None,
                 device_rulesets: tuple[int, int] = (1000, 1999), *,
                 state_dir: str = "/var/run/jocker", devfs_rules: str = "/etc/devfs.rules"):
        self.base_ruleset = base_ruleset
        self.vnet_ruleset = base_ruleset + 1 if vnet_ruleset is None else vnet_ruleset
        self.device_rulesets = tuple(device_rulesets)
        self.state_dir, self.devfs_rules = state_dir, devfs_rules
        lo, hi = self.device_rulesets
        # devfs ruleset numbers are 16-bit in the kernel [U]; 1-5 are stock.
        if not (6 <= lo <= hi <= 65535):
            raise UsageError(f"bad devfs ruleset range {lo}-{hi}: use numbers 6..65535")
        for n in (self.base_ruleset, self.vnet_ruleset):
            if not 6 <= n <= 65535 or lo <= n <= hi:
                raise UsageError(f"bad devfs ruleset {n}: use 6..65535, outside {lo}-{hi}")

    @property
    def lock_path(self) -> str:
        return self.state_dir.rstrip("/") + "/devfs-rulesets.lock"


class JailPlan:
    __slots__ = ("name", "conf_path", "fstab_path", "conf_text", "fstab_text", "devfs_ruleset",
                 "ruleset_commands", "mount_targets", "rctl_add")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw[k])


# ---------------------------------------------------------------- names, paths

def jail_name(container_id: str) -> str:
    """`jk_` + the first 12 hex digits: short, no dots (hierarchy) or colons (rctl)."""
    if not ID_RE.match(container_id or ""):
        raise InvalidName(f"invalid container id {container_id!r}: expected lowercase hex")
    return JAIL_PREFIX + container_id[:12]


def conf_path(rundir: str) -> str:
    return rundir.rstrip("/") + "/" + RD.JAIL_CONF


def fstab_path(rundir: str) -> str:
    return rundir.rstrip("/") + "/" + RD.FSTAB


def ruleset_record_path(rundir: str) -> str:
    """Where the driver records a per-container devfs ruleset number."""
    return rundir.rstrip("/") + "/" + RD.DEVFS_RULESET


# ---------------------------------------------------------------- jail parameters

def allow_command() -> list[str]:
    """The allow.* parameters this kernel registers (allow.vmm only once vmm.ko
    is loaded; others differ by release: kern_jail.c SYSCTL_JAIL_PARAM)."""
    return ["sysctl", "-N", ALLOW_SYSCTL]


def parse_allow(text: str) -> frozenset[str]:
    """`sysctl -N security.jail.param.allow` lines -> {"set_hostname", "mount.devfs", ...}.

    Subnodes print with a trailing dot (`...allow.mount.`) and are dropped."""
    prefix = ALLOW_SYSCTL + "."
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(prefix) and not line.endswith("."):
            names.add(line[len(prefix):])
    return frozenset(names)


def validate_allow(names: list[str], known: frozenset[str] = DOCUMENTED_ALLOW) -> list[str]:
    """`raw_sockets` or `allow.raw_sockets` -> `allow.raw_sockets`, checked against known."""
    out = []
    for raw in names:
        name = raw[len("allow."):] if raw.startswith("allow.") else raw
        _check_allow_name(name, known)
        if f"allow.{name}" not in out:
            out.append(f"allow.{name}")
    return out


def _check_allow_name(name: str, known: frozenset[str]) -> None:
    if name == "mount" or name.startswith("mount."):
        raise UsageError(f"allow.{name} is refused: jocker keeps enforce_statfs=2, "
                         "under which a jail cannot mount anything")
    if name == "sysvipc":
        raise UsageError("allow.sysvipc is refused: jocker gives each container its own "
                         "SysV IPC (sysvshm/sysvsem/sysvmsg=new; use --jail-param to change)")
    if name not in known:
        shown = sorted(n for n in known if not n.startswith("mount") and n != "sysvipc")
        raise UsageError(f"jail permission allow.{name} is not known to this kernel "
                         f"(known: {', '.join(shown)})",
                         hint=f"`sysctl -N {ALLOW_SYSCTL}` lists them; some need a module, "
                              "e.g. allow.vmm needs vmm.ko")


def _base_key(key: str) -> str:
    """`nopersist` -> `persist`, `allow.noraw_sockets` -> `allow.raw_sockets`."""
    head, _, last = key.rpartition(".")
    if last.startswith("no") and len(last) > 2:
        last = last[2:]
    return f"{head}.{last}" if head else last


def validate_jail_params(params: dict[str, str],
                         known_allow: frozenset[str] = DOCUMENTED_ALLOW) -> list[tuple[str, str | None]]:
    """--jail-param KEY=VALUE pairs; an empty value becomes a bare boolean flag."""
    from ..templates import jailquote
    out: list[tuple[str, str | None]] = []
    for key, value in params.items():
        if not PARAM_KEY_RE.match(key or ""):
            raise UsageError(f"invalid jail parameter name {key!r}: expected ^[a-z][a-z0-9_.]*$")
        for k in {key, _base_key(key)}:
            if k in MANAGED_PARAMS or any(k == p or k.startswith(p + ".") for p in MANAGED_PREFIXES):
                raise UsageError(f"jail parameter {key!r} is managed by jocker and cannot be set")
        if key.startswith("allow."):
            _check_allow_name(_base_key(key)[len("allow."):], known_allow)
        jailquote(value)   # refuses newlines early, with the value in the message
        out.append((key, value if value != "" else None))
    return out


def allow_params(spec: ContainerSpec, known: frozenset[str]) -> list[tuple[str, None]]:
    """Docker's defaults, then --allow; a user's --allow or --jail-param allow.X wins."""
    user = validate_allow(spec.jail.allow, known)
    chosen = {_base_key(k) for k in spec.jail.params if k.startswith("allow.")} | set(user)
    out = [(f"allow.{n}" if on else f"allow.no{n}", None)
           for n, on in DOCKER_ALLOW if f"allow.{n}" not in chosen and n in known]
    return out + [(a, None) for a in user if a not in spec.jail.params]


def hostname(spec: ContainerSpec) -> str:
    """host.hostname: --hostname, else the short id (Docker's default)."""
    name = spec.hostname or spec.id[:12]
    if len(name.encode()) > 255:
        raise UsageError(f"hostname {name[:40]!r}... is longer than 255 bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise UsageError(f"hostname {name!r} contains a newline or control character")
    return name


def _network(spec: ContainerSpec) -> list[tuple[str, str, bool]]:
    """jail.conf network parameters (jocker/net/freebsd_plan.py): `host`
    inherits the host's stack; `none` and bridge networks are VNET jails
    (`none` has only lo0 up, unlike ip4=disable which also took loopback)."""
    from ..net.freebsd_plan import jail_params
    if spec.network not in ("host", "none", "bridge"):
        raise UsageError(f"network mode {spec.network!r} is unknown to the jail driver "
                         "(host, none or bridge)")
    att = dict(spec.net or {}, mode=spec.network)
    if spec.network == "bridge" and not att.get("endpoints"):
        raise UsageError("a bridge network needs its attachment (addresses and interfaces): "
                         "create the container through the engine")
    seen: set[str] = set()
    out = []
    for key, value in jail_params(att):     # a repeated key (vnet.interface) appends: +=
        out.append((key, value, key in seen))
        seen.add(key)
    return out


def render_jail_conf(spec: ContainerSpec, *, devfs_ruleset: int, fstab: str | None,
                     known_allow: frozenset[str] = DOCUMENTED_ALLOW) -> str:
    from ..templates import render
    if spec.jail.securelevel is not None and not -1 <= spec.jail.securelevel <= 3:
        raise UsageError(f"securelevel {spec.jail.securelevel} is out of range (-1..3)")
    if spec.stop_timeout < 0:
        raise UsageError(f"stop timeout {spec.stop_timeout} must not be negative")
    user_params = validate_jail_params(spec.jail.params, known_allow)
    sysv = [(k, spec.jail.params.get(k, v)) for k, v in SYSV_DEFAULTS]
    params = allow_params(spec, known_allow) + [
        (k, v) for k, v in user_params if k not in dict(SYSV_DEFAULTS)]
    net_params = _network(spec)   # ip6 on a kernel without INET6 is refused by jail(8) [U]
    return render(
        "jail.conf.j2", container_id=spec.id, name=jail_name(spec.id),
        path=container_path(spec.rootfs, "container rootfs"), hostname=hostname(spec),
        securelevel=spec.jail.securelevel, net_params=net_params, sysv=sysv,
        devfs_ruleset=devfs_ruleset, fstab=fstab, params=params,
    )


# ---------------------------------------------------------------- devfs ruleset choice

def container_ruleset(spec: ContainerSpec, cfg: JailConfig, device_ruleset: int | None) -> int:
    if spec.jail.devices:
        if device_ruleset is None:
            return devfs.device_ruleset_candidates(spec.id, *cfg.device_rulesets)[0]
        return device_ruleset
    return cfg.base_ruleset


# ---------------------------------------------------------------- jail lifecycle

def jail_create_command(conf: str, name: str) -> list[str]:
    return ["jail", "-f", conf, "-c", name]


def jail_remove_command(conf: str | None, name: str) -> list[str]:
    # without the conf jail(8) neither unmounts nor runs poststop (reference 1.6)
    return ["jail", "-f", conf, "-r", name] if conf else ["jail", "-r", name]


def jail_exists_command(name: str) -> list[str]:
    """Also the JID lookup: prints the JID, or fails with `not found`."""
    return ["jls", "-j", name, "jid"]


def jail_dying_command(name: str) -> list[str]:
    """Whether the jail is still there, dying included (`jls -d`)."""
    return ["jls", "-d", "-j", name, "jid"]


def signal_command(name: str, signum: int) -> list[str]:
    """pkill -j takes a jail name or JID [I pkill.c jail_getid]."""
    return ["pkill", f"-{short_name(signum)}", "-j", name]


def pids_command(name: str) -> list[str]:
    return ["pgrep", "-j", name]


def parse_pids(text: str) -> list[int]:
    return [int(tok) for tok in text.split() if tok.isdigit()]


def ps_selector(name: str) -> list[str]:
    """ps(1) options selecting the jail's processes: `-J` takes a JID or name (bin/ps/ps.c)."""
    return ["-J", name]


def physmem_command() -> list[str]:
    return ["sysctl", "-n", "hw.physmem"]


# ---------------------------------------------------------------- the whole plan

def plan(spec: ContainerSpec, cfg: JailConfig | None = None, *,
         device_ruleset: int | None = None, known_allow: frozenset[str] = DOCUMENTED_ALLOW,
         physmem: int | None = None) -> JailPlan:
    """Everything `create` needs; raises UsageError/InvalidName on bad input."""
    cfg = cfg or JailConfig()
    name = jail_name(spec.id)
    container_path(spec.workdir or "/", "working directory")
    entries = mounts.fstab_entries(spec, physmem=physmem)
    ruleset = container_ruleset(spec, cfg, device_ruleset)
    fstab = fstab_path(spec.rundir) if entries else None
    conf_text = render_jail_conf(spec, devfs_ruleset=ruleset, fstab=fstab, known_allow=known_allow)
    return JailPlan(
        name=name,
        conf_path=conf_path(spec.rundir),
        fstab_path=fstab,
        conf_text=conf_text,
        fstab_text=mounts.render_fstab(spec, entries) if entries else None,
        devfs_ruleset=ruleset,
        ruleset_commands=devfs.ruleset_commands(ruleset, spec.jail.devices) if spec.jail.devices else [],
        mount_targets=mounts.mount_targets(spec, entries),
        rctl_add=rctl.rctl_add_commands(name, spec.limits),
    )
