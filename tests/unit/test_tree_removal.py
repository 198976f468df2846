"""host/tree.py: the supervisor's tree removal (a container's run and log
directories on `rm`/`run --rm`). Real files: it must take the whole tree,
never follow a symlink a container planted out of it, and stay cheap to
import (no shutil, whose bz2/lzma imports a `run --rm` paid every time)."""

from __future__ import annotations

import os
import subprocess
import sys

import jocker
from jocker.host.tree import remove_tree

ROOT = os.path.dirname(os.path.dirname(jocker.__file__))


def test_removes_a_nested_tree(tmp_path):
    top = tmp_path / "ctr"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    (top / "log.json").write_text("{}")
    os.mkfifo(top / "fifo")
    remove_tree(str(top))
    assert not top.exists()


def test_symlinks_inside_are_removed_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    top = tmp_path / "ctr"
    (top / "d").mkdir(parents=True)
    os.symlink(outside, top / "d" / "to-dir")
    os.symlink(outside / "keep", top / "to-file")
    remove_tree(str(top))
    assert not top.exists()
    assert (outside / "keep").read_text() == "precious"


def test_a_symlink_at_the_top_is_left_alone(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("precious")
    link = tmp_path / "link"
    os.symlink(target, link)
    remove_tree(str(link))
    assert (target / "keep").read_text() == "precious"
    assert link.is_symlink()


def test_missing_path_is_no_error(tmp_path):
    remove_tree(str(tmp_path / "nothing-here"))


def test_the_removal_code_does_not_import_shutil():
    probe = "import sys, jocker.containers.remove; print('shutil' in sys.modules)"
    out = subprocess.run([sys.executable, "-S", "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT}, check=True).stdout.strip()
    assert out == "False"
