"""Pure planning for the FreeBSD jail driver: no I/O, only text and argv lists.

Everything the driver runs or writes (jail.conf, fstab, devfs rules, rctl
rules, jexec argv) is computed here from a ContainerSpec, so golden tests can
pin it down on Linux. See reference/freebsd.md sections 1, 2, 5, 6.
Items marked [U] are unconfirmed on a real FreeBSD host.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .. import rundir as RD
from ..errors import CannotRun, InvalidName, UsageError
from ..signals import short_name
from ..templates import jailquote, render
from .base import ProcessCommand
from .spec import ContainerSpec, Limits, Mount

JAIL_PREFIX = "jk_"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ID_RE = re.compile(r"^[0-9a-f]{12,64}$")
PARAM_KEY_RE = re.compile(r"^[a-z][a-z0-9_.]*$")
DEVICE_RE = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+/*-]*$")
JEXEC = "/usr/sbin/jexec"   # absolute: Popen looks names up in the *container's* PATH
ENV_BIN = "/usr/bin/env"
CD_SCRIPT = 'cd "$1" && shift && exec "$@"'

# allow.* names from jail(8) (reference 1.2). allow.mount* is refused on purpose.
ALLOW_NAMES = frozenset({
    "set_hostname", "reserved_ports", "raw_sockets", "chflags", "mlock", "quotas",
    "read_msgbuf", "socket_af", "nfsd", "unprivileged_proc_debug", "suser",
    "extattr", "adjtime", "settime", "routing", "setaudit", "vmm",
})
# Parameters jocker sets itself; --jail-param may not touch them.
MANAGED_PARAMS = frozenset({
    "name", "jid", "path", "persist", "dying", "parent", "vnet", "devfs_ruleset",
    "enforce_statfs", "securelevel", "host.hostname", "ip4", "ip6", "command",
    "depend", "interface", "ip_hostname", "stop.timeout", "allow.sysvipc",
})
MANAGED_PREFIXES = ("mount", "exec", "vnet", "ip4", "ip6", "children")
SYSV_DEFAULTS = (("sysvshm", "new"), ("sysvsem", "new"), ("sysvmsg", "new"))


@dataclass(frozen=True)
class JailConfig:
    """Host-side knobs (jocker.conf). Ruleset numbers are global on the host."""

    base_ruleset: int = 100                 # plain containers
    vnet_ruleset: int = 101                 # VNET containers: base + pf
    device_rulesets: tuple[int, int] = (1000, 1999)   # per-container, when --device is used

    def __post_init__(self) -> None:
        lo, hi = self.device_rulesets
        # devfs ruleset numbers are 16-bit in the kernel [U]; 1-5 are stock.
        if not (6 <= lo <= hi <= 65535):
            raise UsageError(f"bad devfs ruleset range {lo}-{hi}: use numbers 6..65535")
        for n in (self.base_ruleset, self.vnet_ruleset):
            if not 6 <= n <= 65535 or lo <= n <= hi:
                raise UsageError(f"bad devfs ruleset {n}: use 6..65535, outside {lo}-{hi}")


@dataclass(frozen=True)
class FstabEntry:
    source: str
    mountpoint: str       # host path: rootfs + target
    fstype: str
    options: str
    target: str           # path inside the container
    host_source: str | None   # for bind/volume mounts: the host path (file or dir)


@dataclass
class JailPlan:
    name: str
    conf_path: str
    fstab_path: str | None
    conf_text: str
    fstab_text: str | None
    devfs_ruleset: int
    ruleset_commands: list[list[str]]     # non-empty only for a per-container ruleset
    mount_targets: list[FstabEntry | str] = field(default_factory=list)
    rctl_add: list[list[str]] = field(default_factory=list)


# ---------------------------------------------------------------- names, paths

def jail_name(container_id: str) -> str:
    """`jk_` + the first 12 hex digits: short, no dots (hierarchy) or colons (rctl)."""
    if not ID_RE.match(container_id or ""):
        raise InvalidName(f"invalid container id {container_id!r}: expected lowercase hex")
    name = JAIL_PREFIX + container_id[:12]
    assert NAME_RE.match(name)
    return name


def conf_path(rundir: str) -> str:
    return posixpath.join(rundir, RD.JAIL_CONF)


def fstab_path(rundir: str) -> str:
    return posixpath.join(rundir, RD.FSTAB)


def ruleset_record_path(rundir: str) -> str:
    """Where the driver records a per-container devfs ruleset number."""
    return posixpath.join(rundir, RD.DEVFS_RULESET)


def _check_fstab_word(what: str, path: str) -> None:
    # jail(8) splits mount.fstab lines on whitespace and cuts at '#', with no
    # \040 decoding [I config.c, command.c], so such paths cannot be expressed.
    if any(c.isspace() or c == "#" or ord(c) < 0x20 for c in path):
        raise UsageError(f"{what} {path!r} contains whitespace, '#' or a control "
                         "character, which jail(8) fstab files cannot express")


def container_path(path: str, what: str = "mount target") -> str:
    """Validate an absolute in-container path; refuse `..`; return it normalised."""
    if not path.startswith("/"):
        raise UsageError(f"{what} {path!r} must be an absolute path")
    parts = [p for p in path.split("/") if p]
    if any(p == ".." for p in parts):
        raise UsageError(f"{what} {path!r} must not contain '..'")
    return "/" + "/".join(p for p in parts if p != ".")


def path_depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def unmount_order(paths: list[str]) -> list[str]:
    """Deepest first, so nested mounts go before their parents."""
    return sorted(paths, key=lambda p: (path_depth(p), p), reverse=True)


# ---------------------------------------------------------------- fstab

def fstab_entries(spec: ContainerSpec) -> list[FstabEntry]:
    """nullfs / tmpfs entries, parents first (jail(8) unmounts in reverse)."""
    root = _rootfs(spec)
    entries, seen = [], set()
    for m in spec.mounts:
        target = container_path(m.target)
        if target == "/":
            raise UsageError("cannot mount over the container root '/'")
        if target == "/dev" or target.startswith("/dev/"):
            # mount.devfs is mounted after mount.fstab and would hide it.
            raise UsageError(f"mount target {target!r}: /dev is managed by devfs (use --device)")
        if target in seen:
            raise UsageError(f"duplicate mount point {target!r}")
        seen.add(target)
        entries.append(_fstab_entry(m, target, root))
    return sorted(entries, key=lambda e: path_depth(e.target))


def _fstab_entry(m: Mount, target: str, root: str) -> FstabEntry:
    mountpoint = root.rstrip("/") + target
    _check_fstab_word("mount target", mountpoint)
    rw = "ro" if m.readonly else "rw"
    if m.kind == "tmpfs":
        return FstabEntry("tmpfs", mountpoint, "tmpfs", f"{rw},mode=1777", target, None)
    if m.kind not in ("bind", "volume"):
        raise UsageError(f"unknown mount type {m.kind!r} (bind, volume or tmpfs)")
    source = container_path(m.source, "mount source")
    _check_fstab_word("mount source", source)
    return FstabEntry(source, mountpoint, "nullfs", rw, target, source)


def render_fstab(spec: ContainerSpec, entries: list[FstabEntry]) -> str:
    return render("jail.fstab.j2", container_id=spec.id, entries=entries)


# ---------------------------------------------------------------- jail.conf

def validate_allow(names: list[str]) -> list[str]:
    """`raw_sockets` or `allow.raw_sockets` -> `allow.raw_sockets`, whitelisted."""
    out = []
    for raw in names:
        name = raw[len("allow."):] if raw.startswith("allow.") else raw
        _check_allow_name(name)
        if f"allow.{name}" not in out:
            out.append(f"allow.{name}")
    return out


def _check_allow_name(name: str) -> None:
    if name == "mount" or name.startswith("mount."):
        raise UsageError(f"allow.{name} is refused: jocker keeps enforce_statfs=2, "
                         "under which a jail cannot mount anything")
    if name not in ALLOW_NAMES:
        raise UsageError(f"unknown jail permission allow.{name} "
                         f"(known: {', '.join(sorted(ALLOW_NAMES))})")


def _base_key(key: str) -> str:
    """`nopersist` -> `persist`, `allow.noraw_sockets` -> `allow.raw_sockets`."""
    head, _, last = key.rpartition(".")
    if last.startswith("no") and len(last) > 2:
        last = last[2:]
    return f"{head}.{last}" if head else last


def validate_jail_params(params: dict[str, str]) -> list[tuple[str, str | None]]:
    """--jail-param KEY=VALUE pairs; an empty value becomes a bare boolean flag."""
    out: list[tuple[str, str | None]] = []
    for key, value in params.items():
        if not PARAM_KEY_RE.match(key or ""):
            raise UsageError(f"invalid jail parameter name {key!r}: expected ^[a-z][a-z0-9_.]*$")
        for k in {key, _base_key(key)}:
            if k in MANAGED_PARAMS or any(k == p or k.startswith(p + ".") for p in MANAGED_PREFIXES):
                raise UsageError(f"jail parameter {key!r} is managed by jocker and cannot be set")
        if key.startswith("allow."):
            _check_allow_name(_base_key(key)[len("allow."):])
        jailquote(value)   # refuses newlines early, with the value in the message
        out.append((key, value if value != "" else None))
    return out


def _hostname(spec: ContainerSpec) -> str:
    name = spec.hostname or spec.short_id
    if len(name.encode()) > 255:
        raise UsageError(f"hostname {name[:40]!r}... is longer than 255 bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise UsageError(f"hostname {name!r} contains a newline or control character")
    return name


def _network(spec: ContainerSpec) -> tuple[str, str]:
    if spec.network == "host":
        return "inherit", "inherit"
    if spec.network == "none":
        return "disable", "disable"
    raise UsageError(f"network {spec.network!r} is not supported by the jail driver yet "
                     "(use host or none)")


def _rootfs(spec: ContainerSpec) -> str:
    return container_path(spec.rootfs, "container rootfs")


def render_jail_conf(spec: ContainerSpec, *, devfs_ruleset: int, fstab: str | None) -> str:
    if spec.securelevel is not None and not -1 <= spec.securelevel <= 3:
        raise UsageError(f"securelevel {spec.securelevel} is out of range (-1..3)")
    if spec.stop_timeout < 0:
        raise UsageError(f"stop timeout {spec.stop_timeout} must not be negative")
    user_params = validate_jail_params(spec.jail_params)
    user_keys = {k for k, _ in user_params}
    sysv = [(k, spec.jail_params.get(k, v)) for k, v in SYSV_DEFAULTS]
    allow = [(a, None) for a in validate_allow(spec.allow) if a not in user_keys]
    params = allow + [(k, v) for k, v in user_params if k not in dict(SYSV_DEFAULTS)]
    ip4, ip6 = _network(spec)   # ip6 on a kernel without INET6 is refused by jail(8) [U]
    return render(
        "jail.conf.j2", container_id=spec.id, name=jail_name(spec.id),
        path=_rootfs(spec), hostname=_hostname(spec), securelevel=spec.securelevel,
        ip4=ip4, ip6=ip6, sysv=sysv, devfs_ruleset=devfs_ruleset, fstab=fstab,
        stop_timeout=int(spec.stop_timeout), params=params,
    )


# ---------------------------------------------------------------- devfs rulesets

def validate_devices(devices: list[str]) -> list[str]:
    """`--device` globs relative to /dev ('bpf*', '/dev/tun0')."""
    out = []
    for raw in devices:
        glob = raw[len("/dev/"):] if raw.startswith("/dev/") else raw
        if not DEVICE_RE.match(glob) or ".." in glob.split("/"):
            raise UsageError(f"invalid device {raw!r}: expected a /dev name or glob like 'bpf*'")
        if glob not in out:
            out.append(glob)
    return out


def ruleset_commands(number: int, devices: list[str] | tuple = (), vnet: bool = False) -> list[list[str]]:
    """Rebuild ruleset N from scratch: hide all, unhide basics, then extras."""
    rule = ["devfs", "rule", "-s", str(number)]
    cmds = [rule + ["delset"]]
    cmds += [rule + ["add", "include", str(n)] for n in (1, 2, 3)]
    if vnet:
        cmds.append(rule + ["add", "path", "pf", "unhide"])   # like stock ruleset 5
    cmds += [rule + ["add", "path", d, "unhide"] for d in validate_devices(list(devices))]
    return cmds


def ruleset_show_command(number: int) -> list[str]:
    return ["devfs", "rule", "-s", str(number), "show"]


def ruleset_delete_command(number: int) -> list[str]:
    return ["devfs", "rule", "-s", str(number), "delset"]


def showsets_command() -> list[str]:
    return ["devfs", "rule", "showsets"]


def parse_showsets(text: str) -> set[int]:
    """`devfs rule showsets` prints ruleset numbers, one per line [U format]."""
    return {int(tok) for tok in text.split() if tok.isdigit()}


def applyset_command(rootfs: str, number: int) -> list[str]:
    # mount -o ruleset=N may not hide nodes that existed at mount time [U]; re-apply.
    return ["devfs", "-m", rootfs.rstrip("/") + "/dev", "rule", "-s", str(number), "applyset"]


def device_ruleset_candidates(container_id: str, cfg: JailConfig) -> list[int]:
    """Every number of the range, starting at a slot derived from the id.

    Deterministic, so a container usually gets the same number each start;
    the driver skips numbers that `showsets` reports as taken.
    """
    lo, hi = cfg.device_rulesets
    size = hi - lo + 1
    start = int(container_id[:12], 16) % size
    return [lo + (start + i) % size for i in range(size)]


def pick_device_ruleset(container_id: str, cfg: JailConfig, in_use: set[int]) -> int:
    for n in device_ruleset_candidates(container_id, cfg):
        if n not in in_use:
            return n
    lo, hi = cfg.device_rulesets
    raise UsageError(f"no free devfs ruleset in {lo}-{hi} for a container with --device",
                     hint="widen device_rulesets in jocker.conf")


def container_ruleset(spec: ContainerSpec, cfg: JailConfig, device_ruleset: int | None) -> int:
    if spec.devices:
        if device_ruleset is None:
            return device_ruleset_candidates(spec.id, cfg)[0]
        return device_ruleset
    return cfg.base_ruleset


# ---------------------------------------------------------------- rctl

def rctl_rules(name: str, limits: Limits) -> list[str]:
    """Docker's --memory/--cpus/--pids-limit as rctl rules.

    Memory uses memoryuse (resident set), like Docker's cgroup limit; a
    vmemoryuse cap would break runtimes that reserve large address space
    (Go, JVM). How memoryuse:deny is enforced (paging out) is [I/U].
    """
    rules = []
    if limits.memory is not None:
        if int(limits.memory) <= 0:
            raise UsageError(f"memory limit {limits.memory} must be positive")
        rules.append(f"jail:{name}:memoryuse:deny={int(limits.memory)}")
    if limits.cpus is not None:
        pct = int(limits.cpus * 100 + 1e-9)   # 1e-9: 0.29*100 is 28.999...
        if pct <= 0:
            raise UsageError(f"--cpus {limits.cpus} is too small (minimum 0.01)")
        rules.append(f"jail:{name}:pcpu:deny={pct}")
    if limits.pids is not None:
        if int(limits.pids) <= 0:
            raise UsageError(f"pids limit {limits.pids} must be positive")
        rules.append(f"jail:{name}:maxproc:deny={int(limits.pids)}")
    return rules


def rctl_add_commands(name: str, limits: Limits) -> list[list[str]]:
    # one rule per call: whether rctl -a takes several rules is [U]
    return [["rctl", "-a", rule] for rule in rctl_rules(name, limits)]


def rctl_remove_command(name: str) -> list[str]:
    return ["rctl", "-r", f"jail:{name}"]


def racct_command() -> list[str]:
    return ["sysctl", "-n", "kern.racct.enable"]


# ---------------------------------------------------------------- jail lifecycle

def jail_create_command(conf: str, name: str) -> list[str]:
    return ["jail", "-f", conf, "-c", name]


def jail_remove_command(conf: str | None, name: str) -> list[str]:
    # without the conf jail(8) neither unmounts nor runs poststop (reference 1.6)
    return ["jail", "-f", conf, "-r", name] if conf else ["jail", "-r", name]


def jail_exists_command(name: str) -> list[str]:
    return ["jls", "-j", name, "jid"]


def signal_command(name: str, signum: int) -> list[str]:
    """pkill -j takes a jail name or JID [I pkill.c jail_getid]."""
    return ["pkill", f"-{short_name(signum)}", "-j", name]


def pids_command(name: str) -> list[str]:
    return ["pgrep", "-j", name]


def parse_pids(text: str) -> list[int]:
    return [int(tok) for tok in text.split() if tok.isdigit()]


def mount_list_command() -> list[str]:
    return ["mount", "-p"]


def leftover_mounts(mount_p: str, rootfs: str) -> list[str]:
    """Mount points below rootfs (not rootfs itself) from `mount -p`, deepest first."""
    prefix = rootfs.rstrip("/") + "/"
    points = []
    for line in mount_p.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].startswith(prefix):
            points.append(fields[1])
    return unmount_order(points)


def umount_command(path: str) -> list[str]:
    return ["umount", "-f", path]


# ---------------------------------------------------------------- processes

def _passwd(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [ln.split(":") for ln in text.splitlines()
            if ln and not ln.startswith("#") and ln.count(":") >= 6]


def _gid_of(group: str, group_text: str | None) -> int | None:
    if group.isdigit():
        return int(group)
    for ln in (group_text or "").splitlines():
        f = ln.split(":")
        if len(f) >= 3 and f[0] == group and f[2].isdigit():
            return int(f[2])
    return None


def resolve_user(user: str, passwd_text: str | None, group_text: str | None) -> str | None:
    """The name for `jexec -U`, or None to stay root (no -U).

    jexec -U looks users up by name in the jail's passwd and takes groups
    from it; it cannot run as a bare uid or switch to another group, so those
    forms must map onto a passwd entry of the image.
    """
    name, _, group = (user or "").partition(":")
    if name in ("", "root", "0") and group in ("", "0", "wheel"):
        return None
    entries = _passwd(passwd_text)
    match = [e for e in entries if (e[2] == name if name.isdigit() else e[0] == name)]
    if not match:
        if name.isdigit() or group or passwd_text is not None:
            raise CannotRun(f"unable to find user {name}: no matching entry in the image's "
                            "/etc/passwd (jexec -U needs one)")
        return name
    entry = match[0]
    if group and _gid_of(group, group_text) != int(entry[3]):
        raise CannotRun(f"cannot run as {user}: jexec uses the groups of user {entry[0]} "
                        "from the image's /etc/passwd and cannot switch group")
    return entry[0]


def jexec_command(name: str, argv: list[str], *, jail_user: str | None, workdir: str,
                  env: dict[str, str], has_workdir_flag: bool,
                  env_wrapper: bool) -> ProcessCommand:
    """argv for a process inside the jail.

    jexec hands its own environment to the command, except that -U runs
    setusercontext(), which rewrites PATH/HOME/USER/SHELL, and -l wipes it
    (jexec.c). So -l is never used; root (no -U) gets the env through the
    process; another user gets it via `/usr/bin/env -i -- K=V... argv` when
    the image has env(1), else through the process with those four replaced.
    Without `jexec -d` [U first release], a workdir goes through /bin/sh.
    """
    if not argv:
        raise UsageError("no command specified")
    if not workdir.startswith("/"):
        raise UsageError(f"the working directory {workdir!r} must be an absolute path")
    cmd = [JEXEC]
    if jail_user:
        cmd += ["-U", jail_user]
    if workdir != "/" and has_workdir_flag:
        cmd += ["-d", workdir]
    cmd.append(name)
    process_env = env
    if jail_user and env_wrapper:
        if "=" in argv[0]:
            raise UsageError(f"command {argv[0]!r} contains '=', which env(1) would "
                             "take as a variable")
        cmd += [ENV_BIN, "-i", "--"] + [f"{k}={v}" for k, v in env.items()]
        process_env = {}
    if workdir != "/" and not has_workdir_flag:
        cmd += ["/bin/sh", "-c", CD_SCRIPT, "sh", workdir]
    return ProcessCommand(argv=cmd + list(argv), env=dict(process_env))


# ---------------------------------------------------------------- the whole plan

def mount_dirs(spec: ContainerSpec, entries: list[FstabEntry]) -> list[FstabEntry | str]:
    """In-container paths that must exist before `jail -c`: /dev, workdir, mounts.

    Entries (not strings) may be file mounts; the driver decides from the
    host source whether to create a directory or an empty file.
    """
    workdir = container_path(spec.workdir or "/", "working directory")
    out: list[FstabEntry | str] = ["/dev"]
    if workdir != "/":
        out.append(workdir)
    return out + list(entries)


def plan(spec: ContainerSpec, cfg: JailConfig | None = None, *,
         device_ruleset: int | None = None) -> JailPlan:
    """Everything `create` needs; raises UsageError/InvalidName on bad input."""
    cfg = cfg or JailConfig()
    name = jail_name(spec.id)
    entries = fstab_entries(spec)
    ruleset = container_ruleset(spec, cfg, device_ruleset)
    fstab = fstab_path(spec.rundir) if entries else None
    conf_text = render_jail_conf(spec, devfs_ruleset=ruleset, fstab=fstab)
    return JailPlan(
        name=name,
        conf_path=conf_path(spec.rundir),
        fstab_path=fstab,
        conf_text=conf_text,
        fstab_text=render_fstab(spec, entries) if entries else None,
        devfs_ruleset=ruleset,
        ruleset_commands=ruleset_commands(ruleset, spec.devices) if spec.devices else [],
        mount_targets=mount_dirs(spec, entries),
        rctl_add=rctl_add_commands(name, spec.limits),
    )
