"""jocker/containers/identity.py: Docker's user, group and environment rules
(runc libcontainer/user GetExecUser, moby getUser and CreateDaemonEnvironment)."""

from __future__ import annotations

import os

import pytest

from jocker.containers import identity as I
from jocker.errors import UsageError

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
app:x:1000:1000:app:/home/app:/bin/sh
nohome:x:1001:1001:::/bin/sh
broken line
"""
GROUP = "root:x:0:\napp:x:1000:\ndevs:x:2000:nobody,app\nops:x:3000:\n"


@pytest.mark.parametrize("user,expected", [
    ("", I.Identity(0, 0, (0,), "/root", "root")),
    ("root", I.Identity(0, 0, (0,), "/root", "root")),
    ("app", I.Identity(1000, 1000, (1000, 2000), "/home/app", "app")),
    ("1000", I.Identity(1000, 1000, (1000, 2000), "/home/app", "app")),
    ("app:ops", I.Identity(1000, 3000, (3000,), "/home/app", "app")),
    ("app:55", I.Identity(1000, 55, (55,), "/home/app", "app")),
    ("nohome", I.Identity(1001, 1001, (1001,), "/", "nohome")),
    ("4321", I.Identity(4321, 0, (0,), "/", None)),
])
def test_resolve(user, expected):
    assert I.resolve(user, PASSWD, GROUP) == expected


def test_group_add_and_errors():
    assert I.resolve("app", PASSWD, GROUP, ["ops", "7", "devs"]).groups == (1000, 2000, 3000, 7)
    with pytest.raises(I.UnknownUser, match="unable to find user bob: no matching entries in passwd file"):
        I.resolve("bob", PASSWD, GROUP)
    with pytest.raises(I.UnknownUser, match="unable to find group g: no matching entries in group file"):
        I.resolve("app:g", PASSWD, GROUP)
    with pytest.raises(I.UnknownUser):
        I.resolve("root", None, None, ["nogroup"])
    with pytest.raises(UsageError, match="range 0-2147483647"):
        I.resolve("9" * 4400, PASSWD, GROUP)          # no int() digit-limit ValueError
    with pytest.raises(UsageError):
        I.resolve("2147483648", PASSWD, GROUP)
    assert I.resolve("", None, None) == I.Identity(0, 0, (0,), "/", None)
    assert I.ids_for_chown("app", PASSWD, GROUP) == (1000, 1000)
    assert I.ids_for_chown("app:ops", PASSWD, GROUP) == (1000, 3000)


def test_process_env():
    base = ["PATH=/bin", "A=1"]
    assert I.process_env(base, hostname="h", tty=False, home="/root") == \
        ["PATH=/bin", "HOSTNAME=h", "A=1", "HOME=/root"]
    assert I.process_env(["HOSTNAME=x", "HOME=/y"], hostname="h", tty=True, home="/root") == \
        [I.DEFAULT_PATH, "HOSTNAME=x", "TERM=xterm", "HOME=/y"]


def test_read_image_file_stays_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "real").write_text("inside\n")
    (root / "etc" / "passwd").symlink_to("/real")          # absolute: resolved in the root
    assert I.read_image_file(str(root), "/etc/passwd") == "inside\n"
    outside = tmp_path / "host-secret"
    outside.write_text("secret\n")
    (root / "etc" / "group").symlink_to("../../../host-secret")
    assert I.read_image_file(str(root), "/etc/group") is None
    (root / "etc" / "loop").symlink_to("loop")
    assert I.read_image_file(str(root), "/etc/loop") is None
    os.mkfifo(root / "fifo")
    assert I.read_image_file(str(root), "/fifo") is None
    assert I.read_image_file(str(root), "/missing") is None
