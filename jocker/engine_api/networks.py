"""Networks: create, list, inspect, remove, prune, connect, disconnect
(jocker/net), and a container's published ports."""

from __future__ import annotations

from ..errors import UsageError
from ..events import produce as events
from ..filters import NETWORK_FILTERS, label_filter, labels_match


class Networks:
    def __init__(self, engine):
        self.engine = engine

    def create(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
               gateway: str | None = None, internal: bool = False, labels: dict | None = None) -> dict:
        """`POST /networks/create`: {"Id": ..., "Warning": ""}."""
        from ..net import networks
        rec = networks.create(self.engine, name, subnet=subnet, gateway=gateway, internal=internal,
                              labels=labels, driver_name=driver)
        events.network(self.engine, rec["Id"], rec["Name"], "create", rec.get("Driver", driver))
        return {"Id": rec["Id"], "Warning": ""}

    def list(self, *, filters: dict[str, list[str]] | None = None) -> list[dict]:
        """`GET /networks`: records in Docker's shape, by name, host and none last."""
        from ..net import networks
        out = []
        for rec in networks.listing(self.engine):
            if _matches(rec, filters or {}):
                out.append(rec)
        return out

    def inspect(self, ref: str) -> dict:
        from ..net import networks
        return networks.inspect(self.engine, ref)

    def remove(self, ref: str) -> None:
        from ..net import networks
        rec = networks.inspect(self.engine, ref)
        networks.remove(self.engine, ref)
        events.network(self.engine, rec["Id"], rec["Name"], "destroy", rec.get("Driver", "bridge"))

    def prune(self) -> dict:
        """`POST /networks/prune`: {"NetworksDeleted": [...]}."""
        from ..net import networks
        known = {r["Name"]: r for r in networks.listing(self.engine)}
        gone = networks.prune(self.engine)
        for name in gone:
            if name in known:
                events.network(self.engine, known[name]["Id"], name, "destroy", known[name].get("Driver", "bridge"))
        events.pruned(self.engine, "network", 0)
        return {"NetworksDeleted": gone}

    def connect(self, ref: str, container: str, *, ip: str | None = None, aliases: list[str] = ()) -> None:
        from ..net import networks
        networks.connect(self.engine, ref, container, ip=ip, aliases=list(aliases))
        self._member_event(ref, container, "connect")

    def disconnect(self, ref: str, container: str, *, force: bool = False) -> None:
        from ..net import networks
        networks.disconnect(self.engine, ref, container, force=force)
        self._member_event(ref, container, "disconnect")

    def _member_event(self, ref: str, container: str, action: str) -> None:
        from ..containers.lifecycle import get
        from ..net import networks
        rec, c = networks.inspect(self.engine, ref), get(self.engine, container)
        events.network(self.engine, rec["Id"], rec["Name"], action, rec.get("Driver", "bridge"), container=c.id)

    def ports(self, container: str) -> list[dict]:
        """`docker port`: [{"PrivatePort", "Type", "IP", "PublicPort"}] while it runs."""
        from ..containers.lifecycle import get
        from ..net import views
        return [p for p in views.api_ports(get(self.engine, container)) if "PublicPort" in p]


def _matches(rec: dict, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key not in NETWORK_FILTERS:
            raise UsageError(f"invalid filter {key!r}", hint="use " + ", ".join(NETWORK_FILTERS))
        for value in values:
            if key == "name" and value not in rec["Name"]:
                return False
            if key == "driver" and rec["Driver"] != value:
                return False
            if key == "id" and not rec["Id"].startswith(value):
                return False
            if key == "label" and not labels_match(rec.get("Labels") or {}, [label_filter(value)]):
                return False
    return True
