"""The container's mounts as jail(8) sees them: fstab lines and mount targets.

Pure: text and paths only. jail(8) mounts the `mount.fstab` lines one at a
time, in file order, and checks each mount point just before mounting it:
it must be absolute, exist, and have no symlink in any component below the
jail path (usr.sbin/jail/command.c, `check_path` called from `run_command`
for IP__MOUNT_FROM_FSTAB). So a target nested under an earlier mount (a
bind at /data/logs under a volume at /data) must exist *inside that mount's
source*, not in the clone, where the earlier mount hides it.
"""

from __future__ import annotations

from .tmpfs import fstab_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spec import ContainerSpec, Mount


class FstabEntry:
    """One fstab line; `host_source` is the host path for bind/volume mounts."""

    __slots__ = ("source", "mountpoint", "fstype", "options", "target", "host_source")

    def __init__(self, source, mountpoint, fstype, options, target, host_source):
        self.source, self.mountpoint, self.fstype = source, mountpoint, fstype
        self.options, self.target, self.host_source = options, target, host_source


class MountTarget:
    """A mount point to create before `jail -c`.

    base is the host directory it is created in (the clone, or the source of
    the mount that will already cover it when jail(8) reaches this line) and
    path is relative to base, as an absolute-looking container path. A
    host_source that is a file needs an empty file there, not a directory.
    """

    __slots__ = ("base", "path", "target", "host_source", "covered_by")

    def __init__(self, base, path, target, host_source, covered_by=None):
        self.base, self.path, self.target = base, path, target
        self.host_source, self.covered_by = host_source, covered_by


def _usage(msg: str):
    from ..errors import UsageError
    return UsageError(msg)


def check_fstab_word(what: str, path: str) -> None:
    # jail(8) splits mount.fstab lines on whitespace and cuts at '#', with no
    # \040 decoding [I config.c, command.c], so such paths cannot be expressed.
    if any(c.isspace() or c == "#" or ord(c) < 0x20 for c in path):
        raise _usage(f"{what} {path!r} contains whitespace, '#' or a control "
                     "character, which jail(8) fstab files cannot express")


def container_path(path: str, what: str = "mount target") -> str:
    """Validate an absolute in-container path; refuse `..`; return it normalised."""
    if not path.startswith("/"):
        raise _usage(f"{what} {path!r} must be an absolute path")
    parts = [p for p in path.split("/") if p]
    if any(p == ".." for p in parts):
        raise _usage(f"{what} {path!r} must not contain '..'")
    return "/" + "/".join(p for p in parts if p != ".")


def path_depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def unmount_order(paths: list[str]) -> list[str]:
    """Deepest first, so nested mounts go before their parents."""
    return sorted(paths, key=lambda p: (path_depth(p), p), reverse=True)


def is_under(path: str, parent: str) -> bool:
    return parent == "/" or path.startswith(parent.rstrip("/") + "/")


def tmpfs_size(memory: int | None, physmem: int | None) -> int | None:
    """Bytes for a tmpfs: the --memory limit, else half of RAM.

    A FreeBSD tmpfs without size= may take all free memory and swap
    (tmpfs(4)), and its pages are not charged to the jail's memoryuse
    (rctl(8) counts process resident memory), so it is always capped: like
    Linux's default of half of RAM, or the container's own memory limit.
    """
    if memory:
        return int(memory)
    return physmem // 2 if physmem else None


def fstab_entries(spec: ContainerSpec, *, physmem: int | None = None) -> list[FstabEntry]:
    """nullfs / tmpfs entries, parents first (jail(8) unmounts in reverse)."""
    root = container_path(spec.rootfs, "container rootfs")
    entries, seen = [], set()
    memory = spec.limits.memory
    for m in spec.mounts:
        target = container_path(m.target)
        if target == "/":
            raise _usage("cannot mount over the container root '/'")
        if target == "/dev" or target.startswith("/dev/"):
            # mount.devfs is mounted after mount.fstab and would hide it.
            raise _usage(f"mount target {target!r}: /dev is managed by devfs (use --device)")
        if target in seen:
            raise _usage(f"duplicate mount point {target!r}")
        seen.add(target)
        entries.append(_fstab_entry(m, target, root, tmpfs_size(memory, physmem)))
    return sorted(entries, key=lambda e: path_depth(e.target))


def _fstab_entry(m: Mount, target: str, root: str, size: int | None) -> FstabEntry:
    mountpoint = root.rstrip("/") + target
    check_fstab_word("mount target", mountpoint)
    rw = "ro" if m.readonly else "rw"
    if m.kind == "tmpfs":
        opts = fstab_options(m.options, m.readonly)      # Docker's --tmpfs defaults and options
        if size and "size=" not in opts:
            opts += f",size={size}"
        return FstabEntry("tmpfs", mountpoint, "tmpfs", opts, target, None)
    if m.kind not in ("bind", "volume"):
        raise _usage(f"unknown mount type {m.kind!r} (bind, volume or tmpfs)")
    source = container_path(m.source, "mount source")
    check_fstab_word("mount source", source)
    return FstabEntry(source, mountpoint, "nullfs", rw, target, source)


def covering_mount(target: str, entries: list[FstabEntry]) -> FstabEntry | None:
    """The deepest earlier mount whose target contains `target`, if any."""
    best = None
    for e in entries:
        if e.target != target and is_under(target, e.target):
            if best is None or path_depth(e.target) > path_depth(best.target):
                best = e
    return best


def mount_targets(spec: ContainerSpec, entries: list[FstabEntry]) -> list[MountTarget]:
    """Where each mount point must be created so jail(8) finds it (see module doc).

    /dev is made in the clone. A target under another mount is made inside
    that mount's host source at the relative path; under a tmpfs (empty when
    jail(8) reaches the nested line) it cannot be, and is refused. The
    working directory is not here: the process child creates it after
    jail_attach, when every mount is in place (jail_exec).
    """
    root = container_path(spec.rootfs, "container rootfs")
    out = [MountTarget(root, "/dev", "/dev", None)]
    for e in entries:
        parent = covering_mount(e.target, entries)
        if parent is None:
            out.append(MountTarget(root, e.target, e.target, e.host_source))
            continue
        if parent.host_source is None:
            raise _usage(f"mount target {e.target!r} is inside the tmpfs at {parent.target!r}, "
                         "which is empty when jail(8) mounts it; use a volume for "
                         f"{parent.target!r} or move {e.target!r} out of it")
        rel = "/" + e.target[len(parent.target.rstrip("/")):].lstrip("/")
        out.append(MountTarget(parent.host_source, rel, e.target, e.host_source, parent.target))
    return out


def render_fstab(spec: ContainerSpec, entries: list[FstabEntry]) -> str:
    from ..templates import render
    return render("jail.fstab.j2", container_id=spec.id, entries=entries)


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
