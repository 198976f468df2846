"""A container's security profile, planned from the run flags (pure).

Docker's defaults: 14 capabilities, changed with `--cap-add/--cap-drop`
(`ALL` allowed on either side), `--privileged` as the only way back to
everything; `--security-opt no-new-privileges[=true|false]` and
`seccomp=unconfined`. jocker sets no_new_privs by default (Docker only when
the daemon is configured so): a setuid binary in an image cannot regain what
the container was denied.

The Linux runtime carries the plan out in `linux_security.py`; jail(8) has
no capability sets, and jocker(8) says which jail parameters give the same
guarantees there.
"""

from __future__ import annotations

from ..errors import UsageError

# Linux capability numbers (linux/capability.h).
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

# Docker's default set (moby's oci/caps/defaults.go): CapEff 00000000a80425fb.
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)


def _cap_name(value: str, flag: str) -> str:
    name = value.strip().upper()
    if name.startswith("CAP_"):
        name = name[4:]
    if name != "ALL" and name not in CAPABILITIES:
        raise UsageError(f"invalid {flag} {value!r}: unknown capability",
                         hint="use a name such as NET_ADMIN or CAP_SYS_TIME, or ALL")
    return name


def capability_set(cap_add: list[str], cap_drop: list[str]) -> list[str]:
    """Docker's rules: add ALL is everything minus the drops; drop ALL is
    only the adds; otherwise the defaults plus adds minus drops."""
    add = [_cap_name(c, "--cap-add") for c in cap_add]
    drop = [_cap_name(c, "--cap-drop") for c in cap_drop]
    if "ALL" in add:
        caps = set(CAPABILITIES) - set(drop)
    elif "ALL" in drop:
        caps = set(add)
    else:
        caps = (set(DEFAULT_CAPABILITIES) | set(add)) - set(drop)
    return [c for c in CAPABILITIES if c in caps]


def capability_mask(caps: list[str]) -> int:
    mask = 0
    for c in caps:
        mask |= 1 << CAPABILITIES.index(c)
    return mask


def parse_security_opts(opts: list[str]) -> dict:
    out = {"no_new_privs": True, "seccomp": "default"}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")      # Docker's old no-new-privileges:true
        key = key.strip()
        if key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise UsageError(f"invalid --security-opt {opt!r}: no-new-privileges takes true or false")
            out["no_new_privs"] = value != "false"
        elif key == "seccomp":
            if value not in ("unconfined", "default", "builtin"):
                raise UsageError(f"invalid --security-opt {opt!r}: jocker has no custom seccomp profiles",
                                 hint="use seccomp=unconfined or leave the default filter")
            out["seccomp"] = "unconfined" if value == "unconfined" else "default"
        elif key in ("apparmor", "label") and value in ("unconfined", "disable"):
            continue                    # nothing of the kind is applied, so nothing to lift
        else:
            raise UsageError(f"invalid --security-opt {opt!r}",
                             hint="jocker knows no-new-privileges[=true|false] and seccomp=unconfined")
    return out


def plan_security(*, privileged: bool = False, cap_add: list[str] | None = None,
                  cap_drop: list[str] | None = None, security_opt: list[str] | None = None) -> dict:
    """The profile a runtime applies: capability names, no_new_privs, the
    seccomp filter ('default' or 'unconfined'), and whether /dev, /proc and
    the root are confined (masked paths, read-only /proc parts, nodev)."""
    opts = parse_security_opts(security_opt or [])
    caps = capability_set(cap_add or [], cap_drop or [])
    if privileged:
        caps = list(CAPABILITIES)
        return {"privileged": True, "capabilities": caps, "capability_mask": capability_mask(caps),
                "no_new_privs": False, "seccomp": "unconfined", "confine_fs": False}
    return {"privileged": False, "capabilities": caps, "capability_mask": capability_mask(caps),
            "no_new_privs": opts["no_new_privs"], "seccomp": opts["seccomp"], "confine_fs": True}


def plan_from_host_config(host: dict) -> dict:
    """The plan of a stored container (HostConfig keys are Docker's)."""
    return plan_security(privileged=bool(host.get("Privileged")), cap_add=host.get("CapAdd") or [],
                         cap_drop=host.get("CapDrop") or [], security_opt=host.get("SecurityOpt") or [])
