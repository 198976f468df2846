"""Networks: create, list, inspect, remove, prune, connect, disconnect
(jocker/net), and a container's published ports."""

from __future__ import annotations

from ..errors import UsageError
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
        networks.remove(self.engine, ref)

    def prune(self) -> dict:
        """`POST /networks/prune`: {"NetworksDeleted": [...]}."""
        from ..net import networks
        return {"NetworksDeleted": networks.prune(self.engine)}

    def connect(self, ref: str, container: str, *, ip: str | None = None, aliases: list[str] = ()) -> None:
        from ..net import networks
        networks.connect(self.engine, ref, container, ip=ip, aliases=list(aliases))

    def disconnect(self, ref: str, container: str, *, force: bool = False) -> None:
        from ..net import networks
        networks.disconnect(self.engine, ref, container, force=force)

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
