"""Which containers are running: a supervisor is alive for them. No host
command: only the run directory and each supervisor's lock."""

from __future__ import annotations

import os

from .model import read_runtime


def running_ids(engine) -> set[str]:
    try:
        entries = os.listdir(engine.layout.rundir)
    except FileNotFoundError:
        return set()
    return {e for e in entries if len(e) == 64 and read_runtime(engine.layout, e)}
