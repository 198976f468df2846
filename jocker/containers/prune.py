"""`container prune` / `system prune`: stopped containers and unused volumes."""

from __future__ import annotations

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
        remove(engine, c)
        removed.append(c.id)
        freed += c.rw_size
    return removed, freed
