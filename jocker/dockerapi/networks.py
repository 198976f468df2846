"""/networks/*: list, inspect, create, delete, prune, connect, disconnect
(jocker/net through the engine facade)."""

from __future__ import annotations

from ..errors import UsageError
from ..net.store import BRIDGE_OPT, DEFAULT
from . import backend
from .jsonargs import field, strings
from .routes import route


def _shape(rec: dict) -> dict:
    rec["Created"] = rec.get("Created") or backend.ZERO_TIME
    if rec.get("Name") != DEFAULT:
        # The bridge jocker picked is its own bookkeeping: dockerd shows a user
        # network's Options as given at create (docker-compose compares them
        # with the project's driver_opts and would recreate the network).
        rec["Options"] = {k: v for k, v in (rec.get("Options") or {}).items() if k != BRIDGE_OPT}
    return rec


@route("GET", "/networks")
def list_(req):
    req.send_json([_shape(r) for r in backend.networks().list(filters=req.filters())])


@route("GET", "/networks/{ref}")
def inspect(req, ref):
    req.send_json(_shape(backend.networks().inspect(ref)))


@route("POST", "/networks/create")
def create(req):
    body = req.json_body(required=True)
    name = field(body, "Name", str, "")
    if not name:
        raise UsageError("network create needs a Name")
    subnet = gateway = None
    for cfg in (field(body, "IPAM", dict, {}).get("Config") or [])[:1]:
        subnet, gateway = cfg.get("Subnet") or None, cfg.get("Gateway") or None
    labels = field(body, "Labels", dict, {})
    req.send_json(backend.networks().create(
        name, driver=field(body, "Driver", str, "") or "bridge", subnet=subnet, gateway=gateway,
        internal=field(body, "Internal", bool, False), labels=labels), 201)


@route("DELETE", "/networks/{ref}")
def delete(req, ref):
    backend.networks().remove(ref)
    req.send_empty(204)


@route("POST", "/networks/prune")
def prune(req):
    out = backend.networks().prune()
    req.send_json({"NetworksDeleted": out["NetworksDeleted"] or None})


@route("POST", "/networks/{ref}/connect")
def connect(req, ref):
    body = req.json_body(required=True)
    container = field(body, "Container", str, "")
    ep = field(body, "EndpointConfig", dict, {})
    ip = ((ep.get("IPAMConfig") or {}).get("IPv4Address")) or None
    backend.networks().connect(ref, container, ip=ip, aliases=strings(ep, "Aliases", "EndpointConfig.") or [])
    req.send_empty(200)


@route("POST", "/networks/{ref}/disconnect")
def disconnect(req, ref):
    body = req.json_body(required=True)
    backend.networks().disconnect(ref, field(body, "Container", str, ""), force=field(body, "Force", bool, False))
    req.send_empty(200)
