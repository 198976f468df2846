"""The engine's event producers, with the attributes Docker gives each kind
(moby daemon/events.go, in our words). Every producer swallows journal
errors: an event is never worth failing the operation it reports.

    container  Actor.ID the container ID; Attributes its labels, then image
               (as the user named it) and name; die adds exitCode, kill
               signal (a number), rename oldName, exec_die execID/exitCode
    image      Actor.ID the image ID (pull/push: the reference); name
    volume     Actor.ID the volume name; driver, zfs (mount: container,
               destination, read/write, propagation; unmount: container)
    network    Actor.ID the network ID; name, type (connect/disconnect:
               container)
"""

from __future__ import annotations

from . import journal

VOLUME_DRIVER = "zfs"      # what `volume inspect` shows as Driver


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


def exec_event(engine, c, action: str, exec_id: str, argv: list[str] | None = None, **extra) -> None:
    """exec_create / exec_start (Action names the command, as Docker's
    `exec_start: sh -c date`) and exec_die (with exitCode)."""
    full = f"{action}: {' '.join(argv)}" if argv else action
    container(engine, c, full, execID=exec_id, **extra)


def supervisor_events(engine, c, storage: dict) -> dict:
    """What a container's supervisor needs to report start, die, health and
    (--rm) destroy itself, and what follows die and destroy (it stays small:
    no engine, no model). storage: remove.storage_job(engine, c)."""
    return {"journal": engine.layout.events_path, "attributes": container_attributes(c),
            "after_die": network_events(c)[1] + mount_events(c)[1],
            "after_destroy": volumes_destroyed(storage["anon_volumes"])}


def volumes_destroyed(datasets: list[str]) -> list:
    """Volume destroy events for volume datasets (a container's anonymous
    volumes, removed with it)."""
    return [("volume", "destroy", ds.rsplit("/", 1)[-1], {"driver": VOLUME_DRIVER}) for ds in datasets]


def image(engine, img, action: str, name: str | None = None, ident: str | None = None) -> None:
    """img: a jocker.images.state.Image (its labels are attributes), or an
    ID when there is no image object. The actor is the image ID, or ident
    (pull and push name the reference instead, as Docker)."""
    if isinstance(img, str):
        ident, attrs = ident or img, {}
    else:
        ident, attrs = ident or img.id, dict((img.config.get("config") or {}).get("Labels") or {})
    attrs["name"] = name if name is not None else ident
    journal.emit(engine.layout.events_path, "image", action, ident, attrs)


def image_lines(engine, lines: list[str], before) -> None:
    """untag and delete events from rmi/prune's `Untagged: ` / `Deleted: `
    lines; before is the store's state (images.state.State) they were made
    from. Docker's untag event names the image by ID, not the tag; a
    `Deleted:` line of a layer makes none."""
    by_tag = {t: img for img in before.images.values() for t in list(img.tags) + list(img.repo_digests)}
    ids = {img.id: img for img in before.images.values()}
    for line in lines:
        word, _, what = line.partition(": ")
        if word == "Untagged" and what in by_tag:
            image(engine, by_tag[what], "untag", by_tag[what].id)
        elif word == "Deleted" and what in ids:
            image(engine, ids[what], "delete", what)


def volume(engine, name: str, action: str, driver: str = VOLUME_DRIVER, **extra) -> None:
    journal.emit(engine.layout.events_path, "volume", action, name, dict(extra, driver=driver))


def mount_events(c) -> tuple[list, list]:
    """(mount, unmount) volume events for a container's start and end, as
    (type, action, id, attributes) tuples (the supervisor emits the second
    after die)."""
    mounts, unmounts = [], []
    for m in c.spec.get("Mounts") or []:
        if m.get("Type") != "volume":
            continue
        rw = "false" if m.get("RW") is False or m.get("ReadOnly") else "true"
        driver = m.get("Driver") or VOLUME_DRIVER
        mounts.append(("volume", "mount", m.get("Name", ""),
                       {"driver": driver, "container": c.id, "destination": m.get("Destination", ""),
                        "read/write": rw, "propagation": m.get("Propagation", "")}))
        unmounts.append(("volume", "unmount", m.get("Name", ""), {"driver": driver, "container": c.id}))
    return mounts, unmounts


def network_events(c) -> tuple[list, list]:
    """(connect, disconnect) network events for a container's start and
    end: Docker reports each network it joins at every start (`none` and
    `host` too, of type null and host) and leaves after every die."""
    from ..net import store as S
    mode = c.spec.get("HostConfig", {}).get("NetworkMode") or "host"
    if mode in S.BUILTIN:
        rec = S.builtin_record(mode)
        members = [(rec["Id"], mode, rec["Driver"])]
    else:
        nets = (c.spec.get("NetworkSettings") or {}).get("Networks") or {}
        members = [(ep["NetworkID"], name, "bridge") for name, ep in nets.items() if ep.get("NetworkID")]
    return ([("network", "connect", nid, {"container": c.id, "name": name, "type": type_})
             for nid, name, type_ in members],
            [("network", "disconnect", nid, {"container": c.id, "name": name, "type": type_})
             for nid, name, type_ in members])


def start_events(c) -> list:
    """What a start reports before the container's own start event."""
    return mount_events(c)[0] + network_events(c)[0]


def pruned(engine, type_: str, reclaimed: int) -> None:
    """Docker's summary event after a prune: no actor, the bytes freed."""
    journal.emit(engine.layout.events_path, type_, "prune", "", {"reclaimed": int(reclaimed)})


def emit_all(engine, events: list) -> None:
    for type_, action, ident, attrs in events:
        journal.emit(engine.layout.events_path, type_, action, ident, attrs)


def network(engine, net_id: str, name: str, action: str, type_: str = "bridge", **extra) -> None:
    journal.emit(engine.layout.events_path, "network", action, net_id, dict(extra, name=name, type=type_))
