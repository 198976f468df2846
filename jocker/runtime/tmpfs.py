"""`--tmpfs PATH[:OPTIONS]` (Docker's HostConfig.Tmpfs): validation and the
mount arguments each runtime needs. Pure functions.

Docker's defaults for a tmpfs mount are `noexec,nosuid,nodev` with the
kernel's mode 1777; OPTIONS are mount(8) words (`ro`, `exec`, `size=64m`,
`mode=755`, `uid=1000`...). Linux passes flags and data to mount(2);
FreeBSD's tmpfs(5) takes the same `size`, `mode`, `uid`, `gid` (and
`inodes` for Linux's `nr_inodes`) in fstab.
"""

from __future__ import annotations

import re

from ..errors import UsageError

# mount(2) flag bits (Linux); "clear" words undo a default.
FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "sync": 16, "dirsync": 128,
         "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}
CLEARS = {"rw": "ro", "suid": "nosuid", "dev": "nodev", "exec": "noexec", "async": "sync",
          "atime": "noatime", "diratime": "nodiratime"}
DATA_KEYS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
DEFAULTS = ("noexec", "nosuid", "nodev")
_VALUE = re.compile(r"^[0-9]+[kmgKMG%]?$")


def parse(spec: str) -> tuple[str, str]:
    """`PATH[:OPTIONS]` -> (path, options), both checked."""
    path, _, options = spec.partition(":")
    if not path.startswith("/") or ".." in path.split("/") or any(c in path for c in ",\n\0"):
        raise UsageError(f"invalid --tmpfs {spec!r}: the path must be absolute, without '..' or ','")
    split(options, spec)
    return path.rstrip("/") or "/", options


def split(options: str, shown: str = "") -> tuple[list[str], dict[str, str]]:
    """(flag words in effect, data options), Docker's defaults applied first."""
    flags = list(DEFAULTS)
    data: dict[str, str] = {}
    for word in (w for w in options.split(",") if w):
        key, eq, value = word.partition("=")
        if eq:
            if key not in DATA_KEYS or not _VALUE.match(value) or (key == "mode" and not
                                                                   re.fullmatch(r"[0-7]{1,4}", value)):
                raise UsageError(f"invalid --tmpfs option {word!r} in {shown or options!r}",
                                 hint="use size=, mode= (octal), uid=, gid=, nr_inodes=")
            data[key] = value
        elif key in FLAGS:
            if key not in flags:
                flags.append(key)
        elif key in CLEARS:
            flags = [f for f in flags if f != CLEARS[key]]
        else:
            raise UsageError(f"invalid --tmpfs option {word!r} in {shown or options!r}")
    data.setdefault("mode", "1777")
    return flags, data


def linux_mount(options: str) -> tuple[int, str]:
    """(mount(2) flags, data string) for the Linux runtime."""
    flags, data = split(options)
    bits = 0
    for f in flags:
        bits |= FLAGS[f]
    return bits, ",".join(f"{k}={v}" for k, v in data.items())


def fstab_options(options: str, readonly: bool = False) -> str:
    """The fstab options field for FreeBSD's tmpfs(5) [U: nodev has no
    FreeBSD meaning and is left out]."""
    flags, data = split(options)
    words = ["ro" if readonly or "ro" in flags else "rw"] + [f for f in flags if f in ("noexec", "nosuid")]
    names = {"nr_inodes": "inodes"}
    words += [f"{names.get(k, k)}={v}" for k, v in data.items() if k != "nr_blocks"]
    return ",".join(words)
