"""Who a container process runs as, and the environment Docker gives it.

The one home for passwd/group resolution (`-u`, `USER`, `--group-add`,
`--chown`) and for the variables the engine adds to every process (HOME,
HOSTNAME, TERM). Pure functions on the text of the image's /etc/passwd and
/etc/group, plus one reader that fetches those files from a root filesystem
without letting the image point it at the host. Every runtime driver (Linux
namespaces, FreeBSD jails) and the builder calls these, so a container and a
build step see the same user, groups and environment.

Docker's rules, as runc's user lookup and moby's container environment
implement them (moby container/container.go CreateDaemonEnvironment,
daemon/oci_linux.go getUser, runc libcontainer/user GetExecUser):

- user spec: `name`, `uid`, `name:group`, `uid:gid`; empty means root (uid 0);
  the first passwd entry matching the name (or the number) wins;
- an unknown name is an error; an unknown number runs as that uid with gid 0
  and HOME `/`;
- supplementary groups: the primary gid, then (only when no group was given)
  every /etc/group entry listing the matched user name, then `--group-add`;
- HOME from the passwd entry (`/` when there is none), unless the
  environment sets it; HOSTNAME always; TERM=xterm with a terminal; the
  container's own Env overrides the engine's defaults. Docker sets no USER.
"""

from __future__ import annotations

import os
import stat

from ..errors import JockerError, UsageError

MAX_ID = 2147483647            # runc: "uids and gids must be in range 0-2147483647"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnknownUser(JockerError):
    """The user or group named by -u/USER/--group-add is not in the image (Docker: 125)."""


class Identity:
    """Who a process runs as. A plain class, not a dataclass: the Linux
    supervisor imports this module, and dataclasses bring inspect with them."""

    __slots__ = ("uid", "gid", "groups", "home", "name")

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...], home: str, name: str | None = None):
        self.uid = uid
        self.gid = gid
        self.groups = tuple(groups)   # supplementary groups, primary gid first
        self.home = home
        self.name = name              # the matched passwd entry's name, if any

    def _key(self):
        return (self.uid, self.gid, self.groups, self.home, self.name)

    def __eq__(self, other):
        return isinstance(other, Identity) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"Identity(uid={self.uid}, gid={self.gid}, groups={self.groups}, home={self.home!r}, "
                f"name={self.name!r})")

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def id_number(text: str, what: str) -> int | None:
    """A decimal id, None if `text` is a name. Refuses giant numbers before
    int() sees them (Python's digit limit, and ids are 31-bit anyway)."""
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 10 or int(text) > MAX_ID:
        raise UsageError(f"invalid {what} {text!r}: uids and gids must be in range 0-{MAX_ID}")
    return int(text)


def parse_db(text: str | None, fields: int) -> list[list[str]]:
    """Lines of a passwd (7 fields) or group (4 fields) file, comments and
    malformed lines skipped."""
    out = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) >= fields and id_number(f[2], "id") is not None:
            out.append(f)
    return out


def _passwd_entry(user: str, passwd_text: str | None) -> list[str] | None:
    uid = id_number(user, "user")
    for f in parse_db(passwd_text, 7):
        if (int(f[2]) == uid) if uid is not None else f[0] == user:
            return f
    return None


def group_id(group: str, group_text: str | None, what: str = "unable") -> int:
    """A group name or number as a gid (numbers need no entry)."""
    gid = id_number(group, "group")
    for f in parse_db(group_text, 4):
        if (int(f[2]) == gid) if gid is not None else f[0] == group:
            return int(f[2])
    if gid is None:
        raise UnknownUser(f"{what} to find group {group}: no matching entries in group file")
    return gid


def user_id(user: str, passwd_text: str | None) -> int:
    """A user name or number as a uid (numbers need no entry)."""
    entry = _passwd_entry(user, passwd_text)
    if entry is not None:
        return int(entry[2])
    uid = id_number(user, "user")
    if uid is None:
        raise UnknownUser(f"unable to find user {user}: no matching entries in passwd file")
    return uid


def resolve(user: str, passwd_text: str | None, group_text: str | None,
            group_add: list[str] | tuple[str, ...] = ()) -> Identity:
    """Docker's user lookup for `-u`/`USER` (see the module docstring)."""
    name, _, group = (user or "").partition(":")
    entry = _passwd_entry(name or "0", passwd_text)
    if entry is not None:
        uid, home, matched = int(entry[2]), entry[5] or "/", entry[0]
        gid = id_number(entry[3], "group") or 0
    else:
        uid = user_id(name or "0", None)
        gid, home, matched = 0, "/", None
    groups: list[int] = []
    if group:
        gid = group_id(group, group_text)
    elif matched:
        groups = [int(f[2]) for f in parse_db(group_text, 4) if matched in f[3].split(",")]
    extra = [group_id(g, group_text, "Unable") for g in group_add]   # moby's capital U
    ordered = list(dict.fromkeys([gid, *groups, *extra]))
    return Identity(uid=uid, gid=gid, groups=tuple(ordered), home=home, name=matched)


def ids_for_chown(spec: str, passwd_text: str | None, group_text: str | None) -> tuple[int, int]:
    """COPY/ADD --chown=user[:group]: a user without a group gives the same
    number to the group (Docker's documented rule)."""
    user, _, group = spec.partition(":")
    uid = user_id(user, passwd_text)
    return uid, (group_id(group, group_text) if group else uid)


def _set(env: list[str], entry: str) -> list[str]:
    key = entry.split("=", 1)[0] + "="
    for i, e in enumerate(env):
        if e.startswith(key):
            env[i] = entry
            return env
    env.append(entry)
    return env


def process_env(env: list[str], *, hostname: str, tty: bool, home: str) -> list[str]:
    """The environment of a container process: Docker's defaults (PATH,
    HOSTNAME, TERM with a tty) overridden in place by the container's Env,
    then HOME from the passwd entry when Env does not set it."""
    out = [DEFAULT_PATH, f"HOSTNAME={hostname}"] + (["TERM=xterm"] if tty else [])
    for entry in env:
        if "=" in entry:
            _set(out, entry)
    if not any(e.startswith("HOME=") for e in out):
        out.append(f"HOME={home}")
    return out


def read_image_file(rootfs: str, path: str, limit: int = 4 << 20) -> str | None:
    """Text of an absolute path inside rootfs, None if absent. Symlinks are
    followed as a chroot would (absolute targets stay inside rootfs) and
    never out of it; anything but a regular file reads as absent."""
    cur = ""
    todo = [p for p in path.split("/") if p]
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in (".", ""):
            continue
        if part == "..":
            cur = cur.rsplit("/", 1)[0]
            continue
        host = rootfs + cur + "/" + part
        if os.path.islink(host):
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                cur = ""
            todo = [p for p in target.split("/") if p] + todo
            continue
        cur += "/" + part
    try:
        fd = os.open(rootfs + cur, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit).decode("utf-8", "replace")


def image_identity(rootfs: str, user: str, group_add: list[str] | tuple[str, ...] = ()) -> Identity:
    """resolve() against the image's own /etc/passwd and /etc/group."""
    return resolve(user, read_image_file(rootfs, "/etc/passwd"),
                   read_image_file(rootfs, "/etc/group"), group_add)
