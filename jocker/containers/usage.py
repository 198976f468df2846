"""`system df` rows for containers and volumes, from ZFS's accounting."""

from __future__ import annotations

from .model import load_containers
from ..volumes.store import list_volumes, users_of


def containers_df(engine, st) -> dict:
    cs = load_containers(engine.layout, st.datasets)
    size = sum(c.rw_size for c in cs.values())
    reclaim = sum(c.rw_size for c in cs.values() if not c.running)
    return {"Type": "Containers", "TotalCount": len(cs), "Active": sum(c.running for c in cs.values()),
            "Size": size, "Reclaimable": reclaim}


def volumes_df(engine, st) -> dict:
    cs = load_containers(engine.layout, st.datasets)
    vols = list_volumes(engine, st.datasets)
    used = [v for v in vols if users_of(cs, v)]
    return {"Type": "Local Volumes", "TotalCount": len(vols), "Active": len(used),
            "Size": sum(v["Size"] for v in vols.values()),
            "Reclaimable": sum(v["Size"] for n, v in vols.items() if n not in used)}
