"""Volumes: create, list, inspect, remove, prune (ZFS datasets under <root>/volumes)."""

from __future__ import annotations

from ..errors import NotFound
from ..events import produce as events
from ..filters import VOLUME_FILTERS, pairs, prune_label_filters

_HIDDEN = ("Size", "Anonymous")      # list-only facts, not in inspect


class Volumes:
    def __init__(self, engine):
        self.engine = engine

    def create(self, name: str | None = None, labels: dict | None = None) -> str:
        """`POST /volumes/create`: the volume's name (an existing one is reused)."""
        from ..volumes.store import create_volume
        self.engine.load_state()
        name = create_volume(self.engine, name, labels or {})
        events.volume(self.engine, name, "create")
        return name

    def list(self, *, filters: dict[str, list[str]] | None = None) -> list[dict]:
        """`GET /volumes` (the Volumes array), by name; each with UsedBy and Size."""
        from ..volumes.store import volume_list
        flt = pairs(filters, VOLUME_FILTERS)
        return volume_list(self.engine, self.engine.load_state(), flt)

    def inspect(self, name: str) -> dict:
        for v in self.list():
            if v["Name"] == name:
                return {k: val for k, val in v.items() if k not in _HIDDEN}
        raise NotFound(f"No such volume: {name}")

    def inspect_many(self, names: list[str]) -> list[dict]:
        """All or nothing, as `docker volume inspect`: the first missing name fails."""
        vols = {v["Name"]: v for v in self.list()}
        missing = [n for n in names if n not in vols]
        if missing:
            raise NotFound(f"No such volume: {missing[0]}")
        return [{k: val for k, val in vols[n].items() if k not in _HIDDEN} for n in names]

    def remove(self, name: str) -> None:
        """Refused while a container uses it."""
        from ..volumes.store import remove_volume
        remove_volume(self.engine, name)
        events.volume(self.engine, name, "destroy")

    def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> dict:
        """`POST /volumes/prune`: anonymous volumes no container uses (all: named
        ones too). {"VolumesDeleted": [...], "SpaceReclaimed": bytes}."""
        from ..volumes.store import prune_volumes
        flt = prune_label_filters(filters)
        self.engine.load_state()
        removed, freed = prune_volumes(self.engine, flt, anonymous_only=not all)
        for name in removed:
            events.volume(self.engine, name, "destroy")
        events.pruned(self.engine, "volume", freed)
        return {"VolumesDeleted": removed, "SpaceReclaimed": freed}
