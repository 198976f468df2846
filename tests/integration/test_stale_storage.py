"""Storage that comes back (issue 9, item 9a), with a real stale FUSE mount
made here: /dev/fuse opened, mounted, and closed unanswered, which is what
every mount of a restarted zfs-fuse looks like ("Transport endpoint is not
connected"). The shared zfs-fuse daemon itself is never restarted."""

from __future__ import annotations

import ctypes
import os
import subprocess

import pytest

from jocker.storage import stale

pytestmark = pytest.mark.reliability


def _stale_fuse_mount(path: str, source: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/dev/fuse", os.O_RDWR)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(source.encode(), path.encode(), b"fuse.zfs", 0, opts) != 0:
        e = ctypes.get_errno()
        os.close(fd)
        pytest.skip(f"cannot make a FUSE mount here: {os.strerror(e)}")
    os.close(fd)            # the "daemon" is gone: the mount is stale from now on


def test_stale_mount_one_line_then_prepare_remounts(jocker, jocker_env, busybox_image, cleanup):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")
    cleanup.append("stale")
    cid = jocker("create", "--name", "stale", busybox_image, "echo", "back").stdout.strip()
    rootfs = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "containers", cid, "root")
    dataset = f"{jocker_env['JOCKER_DATASET']}/containers/{cid}"
    _stale_fuse_mount(rootfs, dataset)
    try:
        with pytest.raises(OSError) as e:
            os.stat(rootfs)
        assert e.value.errno == 107         # ENOTCONN: a real stale mount
        p = jocker("cp", "stale:/bin/busybox", "-", check=False)
        assert p.returncode == 125 and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "system prepare" in p.stderr, p.stderr
        out = jocker("system", "prepare").stdout
        assert f"remounted {dataset}" in out
        assert jocker("start", "-a", "stale").stdout == "back\n"
    finally:
        if stale.is_stale(rootfs):
            subprocess.run(["umount", "-l", rootfs], capture_output=True)


def test_foreign_stale_mounts_are_left_alone(jocker, jocker_env):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")
    path = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], ".tmp", "foreign")
    os.makedirs(path, exist_ok=True)
    _stale_fuse_mount(path, "otherpool/data")
    try:
        out = jocker("system", "prepare").stdout
        assert "otherpool" not in out and stale.is_stale(path)     # not ours: untouched
    finally:
        subprocess.run(["umount", "-l", path], capture_output=True)
        os.rmdir(path)


def test_nested_stale_mounts_are_detached_topmost_first(jocker, jocker_env, busybox_image, cleanup):
    """After a zfs-fuse restart .../containers is stale too, so a deeper
    .../containers/<id>/root cannot be reached by path until its stale
    parent is gone. Here the deeper mount is made first and a stale mount
    over its parent directory hides it, which is the same lookup failure
    (ENOTCONN through the dead parent); heal must detach the topmost, re-read
    the mount table and go on, and never abort the command."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")
    cleanup.append("nested")
    cid = jocker("create", "--name", "nested", busybox_image, "echo", "back").stdout.strip()
    mnt = jocker_env["JOCKER_MOUNTPOINT"]
    cdir = os.path.join(mnt, "containers", cid)
    rootfs = os.path.join(cdir, "root")
    dataset = f"{jocker_env['JOCKER_DATASET']}/containers/{cid}"
    _stale_fuse_mount(rootfs, dataset)
    _stale_fuse_mount(cdir, f"{jocker_env['JOCKER_DATASET']}/containers")   # a stale mount above it
    try:
        with pytest.raises(OSError) as e:
            os.stat(rootfs)
        assert e.value.errno == 107
        assert subprocess.run(["umount", "-l", rootfs], capture_output=True).returncode != 0  # the old way
        out = jocker("system", "prepare").stdout
        assert f"remounted {dataset}" in out
        assert not stale.stale_mounts(mnt)
        assert jocker("start", "-a", "nested").stdout == "back\n"
    finally:
        for path in (cdir, rootfs, cdir, rootfs):
            if any(p == path for p, _t, _s in stale.mount_points()) and stale.is_stale(path):
                subprocess.run(["umount", "-l", "-c", path], capture_output=True)
