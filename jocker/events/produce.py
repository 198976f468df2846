"""The engine's event producers, with the attributes Docker gives each kind
(moby daemon/events.go, in our words). Every producer swallows journal
errors: an event is never worth failing the operation it reports.

    container  Actor.ID the container ID; Attributes its labels, then image
               (as the user named it) and name; die adds exitCode, kill
               signal (a number), rename oldName, exec_die execID/exitCode
    image      Actor.ID the image ID (pull/push: the reference); name
    volume     Actor.ID the volume name; driver (mount: container,
               destination, read/write, propagation; unmount: container)
    network    Actor.ID the network ID; name, type (connect/disconnect:
               container)
"""

from __future__ import annotations

from . import journal


def container_attributes(c) -> dict:
    """A container's event attributes (jocker.containers.model.Container)."""
    cfg = c.spec.get("Config", {})
    attrs = dict(cfg.get("Labels") or {})
    attrs["image"] = cfg.get("Image") or c.spec.get("Image", "")
    attrs["name"] = c.name
    return attrs


def container(engine, c, action: str, **extra) -> None:
    journal.emit(engine.layout.events_path, "container", action, c.id,
                 dict(container_attributes(c), **{k: str(v) for k, v in extra.items()}))


def supervisor_events(engine, c) -> dict:
    """What a container's supervisor needs to report start, die and
    health_status itself (it stays small: no engine, no model)."""
    return {"journal": engine.layout.events_path, "attributes": container_attributes(c)}


def image(engine, image_id: str, action: str, name: str | None = None, labels: dict | None = None) -> None:
    attrs = dict(labels or {})
    attrs["name"] = name if name is not None else image_id
    journal.emit(engine.layout.events_path, "image", action, image_id, attrs)


def volume(engine, name: str, action: str, driver: str = "local", **extra) -> None:
    journal.emit(engine.layout.events_path, "volume", action, name, dict(extra, driver=driver))


def network(engine, net_id: str, name: str, action: str, type_: str = "bridge", **extra) -> None:
    journal.emit(engine.layout.events_path, "network", action, net_id, dict(extra, name=name, type=type_))
