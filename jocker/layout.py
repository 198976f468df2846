"""Where jocker keeps things: dataset names and paths under the root dataset.

    <root>                      mountpoint (default /var/db/jocker)
    <root>/layers/<id>          one dataset per layer; @layer is its content
    <root>/layers/<id>@<hex>    an image: a snapshot carrying the image config
    <root>/containers/<id>      a container: clone of an image snapshot
    <root>/volumes/<name>       named volumes
    <root>/networks/<id>        user-defined networks (and the default `bridge`)
    <rundir>                    volatile state (PIDs, lock, generated jail.conf)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

LAYER_SNAP = "layer"
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Layout:
    root: str
    mountpoint: str
    rundir: str

    @property
    def layers(self) -> str:
        return f"{self.root}/layers"

    @property
    def containers(self) -> str:
        return f"{self.root}/containers"

    @property
    def volumes(self) -> str:
        return f"{self.root}/volumes"

    @property
    def networks(self) -> str:
        return f"{self.root}/networks"

    def skeleton(self) -> list[str]:
        return [self.root, self.layers, self.containers, self.volumes, self.networks]

    def network(self, net_id: str) -> str:
        assert _HEX64.match(net_id), net_id
        return f"{self.networks}/{net_id}"

    def dataset_props(self, name: str) -> dict[str, str] | None:
        """Properties a skeleton child is created with. Layers: atime off
        (reading a layer in a build step must not change it). Clones keep
        setuid on: a jail runs from the clone's own mount, where nosuid would
        break ping and su; private_dirs() keeps other users away instead."""
        if name == self.layers:
            return {"atime": "off"}
        return None

    def clone_mount_dirs(self) -> list[str]:
        """Where layers and containers' clones are mounted (no volumes)."""
        return [os.path.join(self.mountpoint, "containers"), os.path.join(self.mountpoint, "layers")]

    def private_dirs(self) -> list[str]:
        """0700, as Docker's data root: no other user reaches a setuid file
        in a layer or clone, a volume, or a container's attach socket."""
        return [self.mountpoint, self.rundir]

    def layer(self, layer_id: str) -> str:
        assert _HEX64.match(layer_id), layer_id
        return f"{self.layers}/{layer_id}"

    def layer_snapshot(self, layer_id: str) -> str:
        return f"{self.layer(layer_id)}@{LAYER_SNAP}"

    def image_snapshot(self, layer_id: str, image_hex: str) -> str:
        assert _HEX64.match(image_hex), image_hex
        return f"{self.layer(layer_id)}@{image_hex}"

    def layer_path(self, layer_id: str) -> str:
        return os.path.join(self.mountpoint, "layers", layer_id)

    def container(self, cid: str) -> str:
        assert _HEX64.match(cid), cid
        return f"{self.containers}/{cid}"

    def container_dir(self, cid: str) -> str:
        """Per-container directory that survives reboots (logs, config)."""
        return os.path.join(self.mountpoint, "containers", cid)

    def container_rootfs(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), "root")

    def container_rundir(self, cid: str) -> str:
        return os.path.join(self.rundir, cid)

    def volume(self, name: str) -> str:
        return f"{self.volumes}/{name}"

    def volume_path(self, name: str) -> str:
        return os.path.join(self.mountpoint, "volumes", name)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.rundir, "lock")

    @property
    def events_path(self) -> str:
        """The event journal (jocker/events/journal.py)."""
        from .rundir import EVENTS_JOURNAL
        return os.path.join(self.rundir, EVENTS_JOURNAL)

    @property
    def tmpdir(self) -> str:
        return os.path.join(self.mountpoint, ".tmp")

    def split(self, name: str) -> tuple[str, str, str]:
        """(kind, id, snapshot) for a dataset name below the root."""
        ds, _, snap = name.partition("@")
        rel = ds[len(self.root) + 1:] if ds.startswith(self.root + "/") else ""
        kind, _, ident = rel.partition("/")
        return kind, ident, snap
