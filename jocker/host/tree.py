"""Removing a directory tree that a container could have written into (its
run directory, its log and /etc files), cheaply enough for the supervisor:
shutil costs a `run --rm` supervisor ~2 ms of imports (bz2, lzma, fnmatch)
for the one call it makes."""

from __future__ import annotations

import os


def remove_tree(path: str) -> None:
    """Remove the tree at path, bottom-up, through directory descriptors:
    a symlink inside is removed, never followed (os.fwalk does not descend
    into one), and a symlink at path itself is left alone, as shutil.rmtree
    refuses it. Best effort: what cannot be removed stays, without error."""
    try:
        for _, dirs, files, fd in os.fwalk(path, topdown=False, follow_symlinks=False):
            for name in files:
                _unlink(name, fd)
            for name in dirs:
                try:
                    os.rmdir(name, dir_fd=fd)
                except NotADirectoryError:      # a symlink to a directory: listed with dirs
                    _unlink(name, fd)
                except OSError:
                    pass
        os.rmdir(path)
    except OSError:
        pass


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
