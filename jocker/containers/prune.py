"""`container prune` / `system prune`: stopped containers and unused volumes."""

from __future__ import annotations

import os

from ..errors import Conflict, JockerError
from ..filters import labels_match
from .lifecycle import remove
from .model import load_containers
from .volumes import prune_volumes  # noqa: F401 (re-exported for system prune)


def prune_containers(engine, label_filters) -> tuple[list[str], int]:
    st = engine.load_state()
    removed, freed = [], 0
    for c in load_containers(engine.layout, st.datasets).values():
        if c.running:
            continue
        if not labels_match(c.labels, label_filters):
            continue
        try:
            remove(engine, c)
        except Conflict:    # it holds an admin's snapshot: kept, as `rm` keeps it
            continue
        removed.append(c.id)
        freed += c.rw_size
    return removed, freed


def collect_leftovers(engine) -> list[str]:
    """Directories of containers that no longer exist: what a killed `rm`
    (or an rmtree that failed) left after destroying the dataset. Under the
    lock, so a create in progress (its directory comes before its clone) is
    never taken for one; a run directory whose supervisor lives is kept."""
    import re
    import shutil
    from .model import supervisor_alive
    hex64 = re.compile(r"^[0-9a-f]{64}$")
    removed = []
    with engine.lock.held():
        st = engine.load_state()
        prefix = engine.layout.containers + "/"
        alive = {n[len(prefix):] for n in st.datasets if n.startswith(prefix) and "@" not in n}
        for top in (os.path.join(engine.layout.mountpoint, "containers"), engine.layout.rundir):
            try:
                names = os.listdir(top)
            except OSError:
                continue
            for name in names:
                path = os.path.join(top, name)
                if not hex64.match(name) or name in alive or supervisor_alive(path):
                    continue
                if os.path.ismount(os.path.join(path, "root")):
                    continue        # something is still mounted there: not ours to judge
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed + collect_build_dirs(engine)


def collect_build_dirs(engine) -> list[str]:
    """build-<pid>-<id> run directories of build steps whose build is gone
    (SIGKILLed), and the network objects (netns, veth/epair) their net.json
    names; at the start of every build and by `system prune` (the kill loop
    found a killed last build's netns and veth left for good)."""
    import json
    import logging
    import shutil
    from ..images.state import txn_alive
    rundir = engine.layout.rundir
    try:
        names = os.listdir(rundir)
    except OSError:
        return []
    removed = []
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "build" or not parts[1].isdigit() or txn_alive(parts[1]):
            continue
        try:
            with open(os.path.join(rundir, name, "net.json")) as f:
                engine.network_driver.teardown(json.load(f))
        except (OSError, ValueError, JockerError) as e:
            if not isinstance(e, FileNotFoundError):
                logging.getLogger("jocker.build").warning(
                    "cannot tear down the network of an interrupted build step: %s", e)
        shutil.rmtree(os.path.join(rundir, name), ignore_errors=True)
        removed.append(os.path.join(rundir, name))
    return removed
