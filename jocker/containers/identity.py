"""Who a container process runs as, and the environment Docker gives it.

Pure functions on the text of the image's /etc/passwd and /etc/group (never
the jail's pwd.db: jexec -U reads that through getpwnam, so an image that
edits /etc/passwd without pwd_mkdb would disagree, lib/libc/gen/getpwent.c).
Docker's rules (runc libcontainer/user GetExecUser, moby
CreateDaemonEnvironment):

- `name`, `uid`, `name:group`, `uid:gid`; empty means root; the first
  passwd entry matching the name (or number) wins;
- an unknown name is an error; an unknown number runs as that uid, gid 0,
  HOME `/`;
- supplementary groups: the primary gid, then (only when no group was given)
  every group entry listing the matched user name;
- HOME from the entry unless Env sets it; HOSTNAME always; TERM=xterm with a
  terminal; Docker sets no USER.

The compat work (issue 14) owns this module's rules; this is the subset the
FreeBSD driver needs, kept free of dataclasses for the supervisor's size.
"""

from __future__ import annotations

from ..errors import JockerError, UsageError

MAX_ID = 2147483647
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnknownUser(JockerError):
    """The user or group is not in the image (Docker: 125)."""


class Identity:
    __slots__ = ("uid", "gid", "groups", "home", "name")

    def __init__(self, uid: int, gid: int, groups: tuple, home: str, name: str | None = None):
        self.uid, self.gid, self.groups, self.home, self.name = uid, gid, tuple(groups), home, name

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def __eq__(self, other) -> bool:
        return isinstance(other, Identity) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return (f"Identity(uid={self.uid}, gid={self.gid}, groups={self.groups}, "
                f"home={self.home!r}, name={self.name!r})")


def _number(text: str, what: str) -> int | None:
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 10 or int(text) > MAX_ID:
        raise UsageError(f"invalid {what} {text!r}: uids and gids must be in range 0-{MAX_ID}")
    return int(text)


def parse_db(text: str | None, fields: int) -> list[list[str]]:
    """Lines of a passwd (7 fields) or group (4 fields) file, comments and malformed lines skipped."""
    out = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) >= fields and _number(f[2], "id") is not None:
            out.append(f)
    return out


def _entry(user: str, passwd_text: str | None) -> list[str] | None:
    uid = _number(user, "user")
    for f in parse_db(passwd_text, 7):
        if (int(f[2]) == uid) if uid is not None else f[0] == user:
            return f
    return None


def group_id(group: str, group_text: str | None) -> int:
    gid = _number(group, "group")
    for f in parse_db(group_text, 4):
        if (int(f[2]) == gid) if gid is not None else f[0] == group:
            return int(f[2])
    if gid is None:
        raise UnknownUser(f"unable to find group {group}: no matching entries in group file")
    return gid


def resolve(user: str, passwd_text: str | None, group_text: str | None) -> Identity:
    name, _, group = (user or "").partition(":")
    entry = _entry(name or "0", passwd_text)
    if entry is not None:
        uid, home, matched = int(entry[2]), entry[5] or "/", entry[0]
        gid = _number(entry[3], "group") or 0
    else:
        uid = _number(name or "0", "user")
        if uid is None:
            raise UnknownUser(f"unable to find user {name}: no matching entries in passwd file")
        gid, home, matched = 0, "/", None
    groups: list[int] = []
    if group:
        gid = group_id(group, group_text)
    elif matched:
        groups = [int(f[2]) for f in parse_db(group_text, 4) if matched in f[3].split(",")]
    return Identity(uid, gid, tuple(dict.fromkeys([gid, *groups])), home, matched)


def process_env(env: list[str], *, hostname: str, tty: bool, home: str) -> list[str]:
    """Docker's defaults (PATH, HOSTNAME, TERM with a tty) overridden by the
    container's Env, then HOME from the passwd entry unless Env sets it."""
    out = [DEFAULT_PATH, f"HOSTNAME={hostname}"] + (["TERM=xterm"] if tty else [])
    for entry in env:
        if "=" not in entry:
            continue
        key = entry.split("=", 1)[0] + "="
        for i, e in enumerate(out):
            if e.startswith(key):
                out[i] = entry
                break
        else:
            out.append(entry)
    if not any(e.startswith("HOME=") for e in out):
        out.append(f"HOME={home}")
    return out
