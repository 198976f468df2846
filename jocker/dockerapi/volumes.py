"""/volumes/*: list, create, inspect, delete, prune."""

from __future__ import annotations

from ..errors import UsageError
from . import backend
from .routes import route


@route("GET", "/volumes")
def list_(req):
    req.send_json({"Volumes": backend.list_volumes(req.filters()), "Warnings": None})


@route("POST", "/volumes/create")
def create(req):
    body = req.json_body()
    name = body.get("Name") or ""
    labels = body.get("Labels") or {}
    driver = body.get("Driver") or "local"
    if not isinstance(name, str) or not isinstance(labels, dict) or \
            not all(isinstance(v, str) for v in labels.values()):
        raise UsageError("invalid volume create request: Name is a string, Labels an object of strings")
    if driver not in ("local", "zfs"):
        raise UsageError(f"volume driver {driver!r} is not available: jocker volumes are ZFS datasets "
                         "(use the local driver)")
    req.send_json(backend.create_volume(name, labels), 201)


@route("GET", "/volumes/{name}")
def inspect(req, name):
    req.send_json(backend.inspect_volume(name))


@route("DELETE", "/volumes/{name}")
def delete(req, name):
    backend.inspect_volume(name)              # 404 when it does not exist
    backend.remove_volume(name, req.flag("force"))
    req.send_empty(204)


@route("POST", "/volumes/prune")
def prune(req):
    filters = req.filters()
    # API 1.42+: only anonymous volumes unless all=true.
    every = any(v in ("true", "1") for v in filters.pop("all", []))
    req.send_json(backend.prune_volumes(filters, every))
