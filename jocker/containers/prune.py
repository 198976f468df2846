"""`container prune` / `system prune`: stopped containers and unused volumes."""

from __future__ import annotations

import os

from ..filters import labels_match
from .lifecycle import remove
from .model import load_containers
from ..volumes.store import prune_volumes  # noqa: F401 (re-exported for system prune)


def prune_containers(engine, label_filters, until: float = 0.0) -> tuple[list[str], int]:
    """Remove stopped containers matching the label filters and, with until
    (epoch seconds), created before it. (IDs removed, bytes freed)."""
    from ..times import parse_time
    st = engine.load_state()
    removed, freed = [], 0
    for c in load_containers(engine.layout, st.datasets).values():
        if c.running:
            continue
        if not labels_match(c.labels, label_filters):
            continue
        if until and parse_time(c.spec.get("Created", "")) >= until:
            continue
        remove(engine, c)
        removed.append(c.id)
        freed += c.rw_size
    from ..events.produce import pruned
    pruned(engine, "container", freed)
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
    return removed
