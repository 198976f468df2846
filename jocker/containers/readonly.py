"""`--read-only` (HostConfig.ReadonlyRootfs): the container's ZFS clone
runs with `readonly=on`, so the kernel refuses every write to the root
filesystem (EROFS) on FreeBSD and on the Linux workbench alike; volumes,
bind mounts and `--tmpfs` mounts stay writable.

jocker writes into the clone at each start (/etc/hosts, resolv.conf,
hostname) and the runtimes need their mount points and working directory
to exist, so a start opens the clone (readonly=off), writes those, creates
the mount points without following the image's symlinks, and closes it
again (readonly=on) before the container's first process runs.

While it runs, jocker still rewrites its /etc/hosts as peers join and
leave its networks: writable_for_jocker() lifts readonly for that one
write (the container could write too during those milliseconds; the
alternative, a stale hosts file, breaks name resolution silently). A
stopped read-only container is left alone: its next start rewrites the
file anyway.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..runtime.spec import ContainerSpec


def is_readonly(c) -> bool:
    return bool(c.host.get("ReadonlyRootfs"))


def open_for_start(engine, c) -> None:
    """Before jocker's own writes into a read-only container's clone."""
    if is_readonly(c):
        engine.zfs.set_props(c.dataset, {"readonly": "off"})


def seal(engine, c, spec: ContainerSpec) -> None:
    """After them: make every path the runtime mounts on, then readonly=on."""
    if not is_readonly(c):
        return
    from ..rootfs import container_path_in_root
    from ..runtime.freebsd_jail import ensure_dir_nofollow, ensure_file_nofollow
    # The image's own links on the way (WORKDIR /app -> /opt/app) are
    # resolved inside the root first, as the runtime resolves them; what is
    # left is made without following any link.
    for path in ("/proc", "/dev", spec.workdir or "/"):
        ensure_dir_nofollow(spec.rootfs, container_path_in_root(spec.rootfs, path))
    for m in spec.mounts:
        target = container_path_in_root(spec.rootfs, m.target)
        if m.kind != "tmpfs" and os.path.exists(m.source) and not os.path.isdir(m.source):
            ensure_file_nofollow(spec.rootfs, target)
        else:
            ensure_dir_nofollow(spec.rootfs, target)
    engine.zfs.set_props(c.dataset, {"readonly": "on"})


@contextmanager
def writable_for_jocker(engine, c):
    """Around one of jocker's own writes into a running container's clone."""
    if not (is_readonly(c) and c.running):
        yield
        return
    engine.zfs.set_props(c.dataset, {"readonly": "off"})
    try:
        yield
    finally:
        engine.zfs.set_props(c.dataset, {"readonly": "on"})
