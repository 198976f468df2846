"""The jail parameters that give a FreeBSD container what Docker's default
security profile gives a Linux one (issue 9, item 1; jocker(8) SECURITY):
pinned on what jail_plan generates, so a change that loosens one fails here."""

from __future__ import annotations

import re

import pytest

from jocker.errors import UsageError
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec, JailOptions

CID = "cd34" * 16


def _params(securelevel=None, **kw) -> dict[str, str | None]:
    spec = ContainerSpec(id=CID, name="sec", rootfs=f"/var/db/jocker/containers/{CID}/root",
                         rundir=f"/var/run/jocker/{CID}", argv=["/bin/sh"],
                         jail=JailOptions(securelevel=securelevel), **kw)
    text = jp.render_jail_conf(spec, devfs_ruleset=100, fstab=None)
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        m = re.match(r"^\t([a-z0-9_.]+)(?: [+]?= (.*))?;$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"') if m.group(2) else None
    return out


def test_default_jail_parameters():
    p = _params()
    # No mount of any kind (jail(8): allow.mount* default off, and
    # enforce_statfs=2 forbids it even if allowed), no nested jails.
    assert p["enforce_statfs"] == "2" and p["children.max"] == "0"
    # Only what Docker's defaults also grant: raw sockets (NET_RAW); the
    # hostname stays the container's (noset_hostname). No mount, chflags,
    # mlock, ... (jail(8): every other allow.* is off).
    assert sorted(k for k in p if k.startswith("allow.")) == ["allow.noset_hostname", "allow.raw_sockets"]
    # devfs with jocker's ruleset: device nodes hidden except the basics;
    # devfs in a jail refuses mknod(2) to the jail's root (priv_check
    # PRIV_VFS_MKNOD_DEV is not granted to jails).
    assert "mount.devfs" in p and p["devfs_ruleset"] == "100"
    # securelevel unset: the jail runs at the host's level (it can never be
    # lower); --securelevel raises it.
    assert "securelevel" not in p
    assert _params(securelevel=2)["securelevel"] == "2"
    # Private SysV IPC, like Docker's IPC namespace.
    assert (p["sysvshm"], p["sysvsem"], p["sysvmsg"]) == ("new", "new", "new")


def test_base_ruleset_hides_everything_first():
    cmds = jp.ruleset_commands(100)
    # The first rule includes devfsrules_hide_all (ruleset 1 of /etc/defaults/devfs.rules).
    assert cmds[0][:4] == ["devfs", "rule", "-s", "100"] and cmds[0][-2:] == ["include", "1"]
    assert not any("unhide" in c and "mem" in " ".join(c) for c in cmds)


@pytest.mark.parametrize("params", [{"enforce_statfs": "0"}, {"allow.mount": ""},
                                    {"allow.mount.zfs": "1"}, {"children.max": "5"},
                                    {"securelevel": "-1"}, {"devfs_ruleset": "0"},
                                    {"allow.nomount": ""}])
def test_jail_params_cannot_loosen(params):
    with pytest.raises(UsageError):
        jp.validate_jail_params(params)


@pytest.mark.parametrize("name", ["mount", "mount.devfs", "mount.nullfs"])
def test_allow_mount_refused(name):
    with pytest.raises(UsageError, match="enforce_statfs=2"):
        jp.validate_allow([name])
