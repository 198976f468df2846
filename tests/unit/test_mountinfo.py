"""storage/stale.mount_points reads the kernel's mount table: mount points
and sources with a space, tab, newline or backslash come as octal escapes
(\\040...), everything else (UTF-8 names included) as it is. destroy_in_use
unmounts a container's clone only where the table names it at its path
exactly, so a wrongly decoded name means no unmount and a refused destroy."""

from __future__ import annotations

import os

from jocker.storage.stale import mount_points


def test_escaped_and_utf8_paths_read_as_the_file_system_spells_them(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text(
        "45 27 0:40 / /srv/donn\u00e9es\\040jocker/c/root rw,relatime - fuse.zfs pool/c\\040x rw\n"
        "46 27 0:41 / /var/back\\134slash rw - zfs pool/b rw\n", encoding="utf-8")
    assert mount_points(str(table)) == [("/srv/donn\u00e9es jocker/c/root", "fuse.zfs", "pool/c x"),
                                        ("/var/back\\slash", "zfs", "pool/b")]


def test_a_name_that_is_not_utf8_reads_as_os_fsdecode_has_it(tmp_path):
    """Another mount on the host named in Latin-1 (a USB stick's label) must
    not make the table unreadable (every --rm removal asks it)."""
    import os
    table = tmp_path / "mountinfo"
    table.write_bytes(b"47 27 8:1 / /media/caf\xe9 rw - vfat /dev/sdb1 rw\n"
                      b"48 27 0:42 / /pool/c/root rw - fuse.zfs pool/c rw\n")
    assert mount_points(str(table)) == [(os.fsdecode(b"/media/caf\xe9"), "vfat", "/dev/sdb1"),
                                        ("/pool/c/root", "fuse.zfs", "pool/c")]


def test_the_container_side_reads_the_table_the_same_way(tmp_path):
    """linux_security (loaded by path in nsinit/nsexec) lists mount points
    through the same reader: a non-UTF-8 mount elsewhere on the host must
    not fail every container start (isolate_store reads the table)."""
    import os
    from jocker.runtime import linux_security
    table = tmp_path / "mountinfo"
    table.write_bytes(b"47 27 8:1 / /media/caf\xe9\\040x rw - vfat /dev/sdb1 rw\n")
    assert linux_security.mount_points(str(table)) == [os.fsdecode(b"/media/caf\xe9 x")]


def test_nsinit_run_by_path_finds_the_reader(tmp_path):
    import subprocess
    import sys
    import jocker.runtime
    here = os.path.dirname(jocker.runtime.__file__)
    out = subprocess.run([sys.executable, "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                          "import nsinit, linux_security; print(len(linux_security.mount_points()) > 0)", here],
                         capture_output=True, text=True, check=True, cwd=str(tmp_path))
    assert out.stdout.strip() == "True"


def test_the_security_reader_refuses_an_unreadable_table(tmp_path):
    """linux_security decides from the table whether a read-only bind has
    writable submounts: a table it cannot read raises (as before the one
    reader), never reads as "no mounts"; storage's reader stays lenient."""
    import pytest
    from jocker.runtime import linux_security
    with pytest.raises(OSError):
        linux_security.mount_points(str(tmp_path / "missing"))
    assert mount_points(str(tmp_path / "missing")) == []
