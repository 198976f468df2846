"""treediff.apply replays changes without following symlinks on either side."""

from __future__ import annotations

import os

import pytest

from jocker.images import layertar, treediff
from jocker.images.treediff import ADDED, CHANGED, DELETED, Change


def test_apply_replays_files_dirs_links_and_deletions(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for root in (src, dst):
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "old").write_text("old")
    (src / "etc" / "old").unlink()
    (src / "etc" / "new").write_text("new")
    (src / "etc" / "link").symlink_to("/etc/new")
    (src / "opt" / "app").mkdir(parents=True)
    (src / "opt" / "app" / "run").write_text("#!/bin/sh\n")
    os.chmod(src / "opt" / "app" / "run", 0o751)
    changes = [Change(CHANGED, "/etc"), Change(DELETED, "/etc/old"), Change(ADDED, "/etc/new"),
               Change(ADDED, "/etc/link"), Change(ADDED, "/opt"), Change(ADDED, "/opt/app"),
               Change(ADDED, "/opt/app/run")]
    treediff.apply(str(src), str(dst), changes)
    assert not (dst / "etc" / "old").exists()
    assert (dst / "etc" / "new").read_text() == "new"
    assert os.readlink(dst / "etc" / "link") == "/etc/new"
    assert oct(os.stat(dst / "opt" / "app" / "run").st_mode & 0o777) == "0o751"
    assert layertar.write_layer(str(src), changes)[0] == layertar.write_layer(str(dst), changes)[0]


def test_apply_refuses_to_write_through_a_swapped_in_symlink(tmp_path):
    """The commit race: /zz was a directory when diffed, a symlink to a host
    directory when replayed."""
    src, dst, host = tmp_path / "src", tmp_path / "dst", tmp_path / "host"
    src.mkdir()
    dst.mkdir()
    host.mkdir()
    (host / "f").write_text("HOST-ORIGINAL")
    (src / "zz").symlink_to(host)
    changes = [Change(ADDED, "/zz"), Change(ADDED, "/zz/f")]
    with pytest.raises(treediff.ChangedUnderUs):
        treediff.apply(str(src), str(dst), changes)
    assert (host / "f").read_text() == "HOST-ORIGINAL"
    assert os.path.islink(dst / "zz")          # replayed as the link it now is, not followed


def test_digest_tells_hard_links_devices_and_times_apart(tmp_path):
    """Builds share layers with equal digests: the digest must cover what a
    layer restores (review finding: a copy and a hard link looked equal)."""
    copy, link = tmp_path / "copy", tmp_path / "link"
    for root in (copy, link):
        root.mkdir()
        (root / "x").write_text("a\n")
        os.utime(root / "x", ns=(10**18, 10**18))
    (copy / "y").write_text("a\n")
    os.utime(copy / "y", ns=(10**18, 10**18))
    os.link(link / "x", link / "y")
    changes = [Change(ADDED, "/x"), Change(ADDED, "/y")]
    assert layertar.write_layer(str(copy), changes)[0] != layertar.write_layer(str(link), changes)[0]
    later = tmp_path / "later"
    later.mkdir()
    (later / "x").write_text("a\n")
    os.utime(later / "x", ns=(2 * 10**18, 2 * 10**18))
    one = [Change(ADDED, "/x")]
    assert layertar.write_layer(str(copy), one)[0] != layertar.write_layer(str(later), one)[0]
