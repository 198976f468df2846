"""Scratch files and directories named after the process that owns them:
`<kind>-<pid>-<random>`. A process killed with SIGKILL runs no cleanup, so
the garbage collector (`system prune`, the start of a build) removes what
such a process left, and only that: an entry whose name does not say whose
it is, or whose owner still runs, is never touched."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

KINDS = ("import", "jocker-context")
_OWNED = re.compile(r"^(%s)-(\d+)-" % "|".join(map(re.escape, KINDS)))


def _prefix(kind: str) -> str:
    assert kind in KINDS, kind
    return f"{kind}-{os.getpid()}-"


def mkstemp(kind: str, dir: str | None = None, suffix: str = "") -> tuple[int, str]:
    return tempfile.mkstemp(prefix=_prefix(kind), suffix=suffix, dir=dir)


def mkdtemp(kind: str, dir: str | None = None) -> str:
    return tempfile.mkdtemp(prefix=_prefix(kind), dir=dir)


def collect(dirs: list[str]) -> list[str]:
    """Remove the entries of dead owners in dirs; returns their paths."""
    from .images.state import txn_alive
    removed = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            m = _OWNED.match(name)
            if not m or txn_alive(m.group(2)):
                continue
            path = os.path.join(d, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    continue
            removed.append(path)
    return removed
