"""Nested mounts against a model of how jail(8) mounts an fstab (item 1).

usr.sbin/jail/command.c, run_command for IP__MOUNT_FROM_FSTAB: each fstab
line is handled on its own, in file order; check_path() lstat()s every
component of the mount point below the jail path *at that moment* (ENOENT
or a symlink fails the jail), then mount(8) runs. So once /data is mounted,
/data/logs is looked up in the volume, not in the clone beneath it.

JailFstabModel does exactly that on real directories: a mount is a
redirection of a path prefix to the mount's source (nullfs) or to a fresh
empty directory (tmpfs).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jocker.errors import UsageError
from jocker.runtime import freebsd_jail as fj
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec, Mount

from test_jail_driver_commands import RecordingRunner, driver

CID = "cd34ef56ab12" + "9" * 52


class JailFstabModel:
    def __init__(self, jail_path: str, scratch: Path):
        self.jail_path = jail_path.rstrip("/")
        self.scratch = scratch
        self.mounts: list[tuple[str, str]] = []     # (mount point, what is seen there)

    def host(self, path: str) -> str:
        """Where a path really is, given what has been mounted so far."""
        for point, seen in sorted(self.mounts, key=lambda m: -len(m[0])):
            if path == point or path.startswith(point + "/"):
                return seen + path[len(point):]
        return path

    def check_path(self, path: str) -> None:
        if not path.startswith("/"):
            raise OSError(errno.EINVAL, f"{path}: not an absolute pathname")
        if not path.startswith(self.jail_path + "/"):
            return
        parts = path[len(self.jail_path) + 1:].split("/")
        for i in range(len(parts)):
            sub = self.jail_path + "/" + "/".join(parts[:i + 1])
            st = os.lstat(self.host(sub))            # raises ENOENT like jail(8) reports it
            if os.path.islink(self.host(sub)):
                raise OSError(errno.ELOOP, f"{sub} is a symbolic link")
            del st

    def mount_fstab(self, text: str) -> None:
        for n, line in enumerate(text.splitlines()):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            source, point, fstype = fields[:3]
            self.check_path(point)
            if fstype == "tmpfs":
                seen = self.scratch / f"tmpfs{n}"
                seen.mkdir()
                self.mounts.append((point, str(seen)))
            else:
                self.mounts.append((point, self.host(source)))


@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "containers" / CID / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "true").write_text("")
    os.chmod(root / "bin" / "true", 0o755)
    vol, logs, conf = tmp_path / "vol", tmp_path / "logs", tmp_path / "conf"
    for d in (vol, logs, conf):
        d.mkdir()
    (tmp_path / "scratch").mkdir()
    return tmp_path, root, vol, logs, conf


def spec_for(tmp_path, root, mounts, **kw) -> ContainerSpec:
    return ContainerSpec(id=CID, name="n", rootfs=str(root), rundir=str(tmp_path / "run" / CID),
                         argv=["/bin/true"], mounts=mounts, **kw)


def test_nested_volume_mounts_pass_jails_per_line_check(layout):
    tmp_path, root, vol, logs, conf = layout
    spec = spec_for(tmp_path, root, [Mount(str(logs), "/data/logs"),
                                      Mount(str(vol), "/data", kind="volume"),
                                      Mount(str(conf), "/etc/app", readonly=True),
                                      Mount("", "/tmp", kind="tmpfs")])
    driver(RecordingRunner(), tmp=tmp_path / "run").create(spec)
    model = JailFstabModel(str(root), tmp_path / "scratch")
    model.mount_fstab(Path(spec.rundir, "fstab").read_text())     # no ENOENT
    assert (vol / "logs").is_dir()          # made inside the volume, as runc does
    assert model.host(f"{root}/data/logs") == str(logs)


def test_the_model_fails_the_old_layout(layout):
    """Targets made only in the clone (what jocker did before): /data/logs
    is hidden by the volume when jail(8) reaches it, so jail -c fails."""
    tmp_path, root, vol, logs, _ = layout
    spec = spec_for(tmp_path, root, [Mount(str(vol), "/data"), Mount(str(logs), "/data/logs")])
    p = jp.plan(spec)
    for t in ("/data", "/data/logs"):
        fj.ensure_dir_nofollow(str(root), t)
    model = JailFstabModel(str(root), tmp_path / "scratch")
    with pytest.raises(FileNotFoundError):
        model.mount_fstab(p.fstab_text)


def test_three_levels_and_a_file_mount(layout):
    tmp_path, root, vol, logs, conf = layout
    (conf / "app.conf").write_text("x")
    spec = spec_for(tmp_path, root, [Mount(str(vol), "/a"), Mount(str(logs), "/a/b"),
                                      Mount(str(conf), "/a/b/c"),
                                      Mount(str(conf / "app.conf"), "/a/b/c/d.conf")])
    driver(RecordingRunner(), tmp=tmp_path / "run").create(spec)
    JailFstabModel(str(root), tmp_path / "scratch").mount_fstab(Path(spec.rundir, "fstab").read_text())
    assert (vol / "b").is_dir() and (logs / "c").is_dir() and (conf / "d.conf").is_file()


def test_a_mount_inside_a_tmpfs_is_refused_with_a_reason(layout):
    tmp_path, root, vol, _, _ = layout
    spec = spec_for(tmp_path, root, [Mount("", "/run", kind="tmpfs"), Mount(str(vol), "/run/x")])
    with pytest.raises(UsageError, match="inside the tmpfs at '/run'"):
        jp.plan(spec)


def test_workdir_under_a_volume_is_made_after_the_mounts(layout):
    """The clone's /data/app would be hidden by the volume; the process
    child creates the workdir after jail_attach, when /data is mounted."""
    tmp_path, root, vol, _, _ = layout
    spec = spec_for(tmp_path, root, [Mount(str(vol), "/data")], workdir="/data/app")
    p = jp.plan(spec)
    assert [t.path for t in p.mount_targets] == ["/dev", "/data"]
