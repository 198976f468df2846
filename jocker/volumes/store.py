"""Volumes: named volumes are ZFS datasets under <root>/volumes, anonymous
ones (an image's VOLUME, `-v /path`) too, marked so `rm -v` and `volume
prune` know them. Their data survives the containers that used them."""

from __future__ import annotations

import os
import shutil
import time

from ..ids import new_id
from ..errors import Conflict, NotFound
from ..filters import labels_match
from ..times import now_rfc3339
from ..names import check_object_name
from ..storage import props as P


def list_volumes(engine, datasets) -> dict[str, dict]:
    prefix = engine.layout.volumes + "/"
    out = {}
    for name, ds in datasets.items():
        if name.startswith(prefix) and not ds.is_snapshot and "/" not in name[len(prefix):]:
            vname = name[len(prefix):]
            out[vname] = {
                "Name": vname, "Driver": "zfs", "Dataset": name,
                "Mountpoint": engine.layout.volume_path(vname),
                "CreatedAt": ds.get("jocker:volume.created", ""),
                "Labels": P.decode_json(ds, "volume.labels", {}) or {},
                "Anonymous": ds.get("jocker:volume.anonymous") == "1",
                "Scope": "local", "Size": ds.int("usedbydataset"),
            }
    return out


def volume_list(engine, st, filters: list[tuple[str, str]] = ()) -> list[dict]:
    """Volumes by name, each with UsedBy (the names of the containers that
    mount it), after Docker's filters: dangling, name (substring), label."""
    from ..filters import label_filter
    from ..containers.model import load_containers
    cs = load_containers(engine.layout, st.datasets)
    out = []
    for name, v in sorted(list_volumes(engine, st.datasets).items()):
        v["UsedBy"] = [c.name for c in users_of(cs, name)]
        ok = True
        for key, value in filters:
            if key == "dangling":
                ok &= (not v["UsedBy"]) == (value in ("true", "1"))
            elif key == "name":
                ok &= value in v["Name"]
            else:
                ok &= labels_match(v["Labels"], [label_filter(value)])
        if ok:
            out.append(v)
    return out


def users_of(containers, vname: str) -> list:
    return [c for c in containers.values()
            if any(m.get("Name") == vname for m in c.spec.get("Mounts", []))]


def create_volume(engine, name: str | None, labels: dict | None = None, *,
                  anonymous: bool = False) -> str:
    """Create a volume dataset; an existing named volume is reused (as Docker)."""
    if name:
        check_object_name(name, "volume name")
    vname = name or new_id()
    ds = engine.layout.volume(vname)
    if engine.zfs.exists(ds):
        return vname
    props = {"jocker:volume.created": now_rfc3339()}
    if anonymous:
        props["jocker:volume.anonymous"] = "1"
    if labels:
        props.update(P.encode_json("volume.labels", labels))
    engine.zfs.create(ds, props)
    return vname


def copy_up(src_dir: str, volume_path: str) -> None:
    """Docker's first-use rule: an empty new volume gets the image's files."""
    if not os.path.isdir(src_dir) or os.path.islink(src_dir) or os.listdir(volume_path):
        return
    for entry in os.listdir(src_dir):
        s = os.path.join(src_dir, entry)
        d = os.path.join(volume_path, entry)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
    st = os.stat(src_dir)
    os.chown(volume_path, st.st_uid, st.st_gid)
    os.chmod(volume_path, st.st_mode & 0o7777)


def remove_volume(engine, vname: str, *, force: bool = False) -> None:
    from ..containers.model import load_containers
    with engine.lock.held():      # no `run -v name:` may start using it meanwhile
        st = engine.load_state()
        containers = load_containers(engine.layout, st.datasets)
        vols = list_volumes(engine, st.datasets)
        if vname not in vols:
            raise NotFound(f"No such volume: {vname}")
        users = users_of(containers, vname)
        if users:
            raise Conflict(f"remove {vname}: volume is in use - [{', '.join(c.id for c in users)}]")
        _destroy(engine, vname)


def _destroy(engine, vname: str) -> None:
    ds = engine.layout.volume(vname)
    for attempt in range(3):
        try:
            engine.zfs.destroy(ds)
            return
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.2)


def prune_volumes(engine, label_filters, *, anonymous_only: bool = True) -> tuple[list[str], int]:
    from ..containers.model import load_containers
    with engine.lock.held():
        st = engine.load_state()
        containers = load_containers(engine.layout, st.datasets)
        removed, freed = [], 0
        for vname, v in list_volumes(engine, st.datasets).items():
            if anonymous_only and not v["Anonymous"]:
                continue
            if users_of(containers, vname) or not labels_match(v["Labels"], label_filters):
                continue
            _destroy(engine, vname)
            removed.append(vname)
            freed += v["Size"]
    return removed, freed


def check_volume_target(target: str) -> str:
    from ..errors import UsageError
    if not target.startswith("/") or ".." in target.split("/") or "\n" in target or target == "/":
        raise UsageError(f"invalid mount path {target!r}: it must be an absolute path inside the "
                         "container, without '..', and not /")
    norm = os.path.normpath(target)
    if norm == "/" or norm == "/proc" or norm.startswith("/proc/"):
        raise UsageError(f"invalid mount path {target!r}: /proc belongs to the container's runtime",
                         hint="mount somewhere else")
    return norm
