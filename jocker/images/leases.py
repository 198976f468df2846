"""Leases: images a running process is using but holds no other reference to.

A build creates untagged intermediate images one step at a time; until the
build ends, `image prune` would see the newest as dangling and `rmi` could
delete the FROM image under it. The build records the images it uses in
`<rundir>/leases/<pid>-<n>.json`, one file per lease, so the threads of
`jocker serve` never overwrite or remove each other's; prune and rmi leave
leased images alone while that process lives.
"""

from __future__ import annotations

import itertools
import json
import os

from ..atomic import write_json
from ..host.process import pid_alive


_SERIAL = itertools.count(1)      # next() is atomic under the GIL


class Lease:
    def __init__(self, rundir: str):
        self.dir = os.path.join(rundir, "leases")
        self.path = os.path.join(self.dir, f"{os.getpid()}-{next(_SERIAL)}.json")
        self.ids: set[str] = set()

    def __enter__(self) -> "Lease":
        os.makedirs(self.dir, exist_ok=True)
        self._write()
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def add(self, image_id: str) -> None:
        if image_id and image_id not in self.ids:
            self.ids.add(image_id)
            self._write()

    def _write(self) -> None:
        write_json(self.path, sorted(self.ids))


def lease_image(engine, lease: Lease, ref: str):
    """Resolve ref and lease its image under the engine lock, so no rmi can
    come between the two: (the store as read, the image)."""
    with engine.lock.held():
        st = engine.load_state()
        img = st.resolve(ref)
        lease.add(img.id)
    return st, img


def leased(rundir: str) -> dict[str, int]:
    """image id -> pid of a live process holding a lease on it."""
    out: dict[str, int] = {}
    d = os.path.join(rundir, "leases")
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return out
    for name in names:
        owner = name[:-5].split("-", 1)[0]       # <pid>-<n>.json (<pid>.json before)
        if not name.endswith(".json") or not owner.isdigit():
            continue
        if not pid_alive(owner):
            try:
                os.unlink(os.path.join(d, name))      # its process is gone
            except OSError:
                pass
            continue
        pid = int(owner)
        try:
            with open(os.path.join(d, name)) as f:
                for image_id in json.load(f):
                    out[image_id] = pid
        except (OSError, ValueError):
            continue
    return out
