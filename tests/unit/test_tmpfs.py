"""--tmpfs PATH[:OPTIONS] (jocker/runtime/tmpfs.py): Docker's defaults
noexec,nosuid,nodev and mode 1777, mount(8) words, refusals."""

import pytest

from jocker.errors import UsageError
from jocker.runtime import tmpfs


def test_parse_and_linux_arguments():
    assert tmpfs.parse("/run") == ("/run", "")
    assert tmpfs.linux_mount("") == (8 | 2 | 4, "mode=1777")
    assert tmpfs.parse("/run/:size=64m,exec,mode=700") == ("/run", "size=64m,exec,mode=700")
    assert tmpfs.linux_mount("size=64m,exec,mode=700") == (2 | 4, "size=64m,mode=700")
    assert tmpfs.linux_mount("ro,uid=1000") == (8 | 2 | 4 | 1, "uid=1000,mode=1777")
    assert tmpfs.fstab_options("nr_inodes=10,dev") == "rw,noexec,nosuid,inodes=10,mode=1777"
    assert tmpfs.fstab_options("", readonly=True).startswith("ro,")


@pytest.mark.parametrize("spec", ["run", "/a/../b", "/t:bogus", "/t:size=1x", "/t:mode=999",
                                  "/t:size=1m;rm", "/a,b"])
def test_refused(spec):
    with pytest.raises(UsageError):
        tmpfs.parse(spec)
