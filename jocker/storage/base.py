"""The ZFS driver interface (containerd's "snapshotter" in miniature).

Two implementations: zfs(8) on the command line (the default, works with
OpenZFS 2.x on FreeBSD and zfs-fuse on Linux) and py-libzfs. One contract
test suite runs against every implementation present.

Reads are batched: `tree()` returns every dataset and snapshot below a root
with the properties jocker needs, in one call, so listing N images or
containers costs one host command, not N.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

TYPE_CHECKING = False      # typing itself costs the supervisor ~0.5 MB of RSS
if TYPE_CHECKING:
    from typing import IO

# Native properties the engine reads in batch, reported when their source is
# local, received or none (statistics): an inherited or default mountpoint or
# readonly is not reported. User properties (with a ':') come along when set
# locally or received.
STAT_PROPS = ("type", "creation", "used", "referenced", "usedbydataset",
              "usedbysnapshots", "origin", "mountpoint", "mounted", "readonly", "guid")


class Dataset(dict):
    """Properties of one dataset or snapshot, as strings; unset ones are absent."""

    def __init__(self, name: str, props: dict[str, str] | None = None):
        super().__init__(props or {})
        self.name = name

    @property
    def is_snapshot(self) -> bool:
        return "@" in self.name

    def int(self, prop: str, default: int = 0) -> int:
        try:
            return int(self.get(prop, default))
        except ValueError:
            return default


class ZfsDriver(ABC):
    """Operations on pools, datasets and snapshots. Names are full ZFS names."""

    name = "abstract"
    # Capability: destroying a just-used mounted dataset goes faster as
    # `unmount` then `destroy` (destroy_in_use does that where it is set).
    unmount_before_destroy = False

    # -- pools ---------------------------------------------------------------
    @abstractmethod
    def pool_exists(self, pool: str) -> bool: ...

    @abstractmethod
    def pool_create_file(self, pool: str, path: str, *, mountpoint: str = "none") -> None:
        """Create a pool on an existing backing file."""

    @abstractmethod
    def pool_import(self, pool: str, search_dir: str) -> None: ...

    @abstractmethod
    def pool_destroy(self, pool: str) -> None: ...

    # -- datasets ------------------------------------------------------------
    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def create(self, name: str, props: dict[str, str] | None = None, *, parents: bool = False) -> None: ...

    @abstractmethod
    def snapshot(self, snap: str, props: dict[str, str] | None = None) -> None: ...

    @abstractmethod
    def clone(self, snap: str, name: str, props: dict[str, str] | None = None) -> None: ...

    @abstractmethod
    def destroy(self, name: str, *, recursive: bool = False) -> None:
        """Destroy a dataset or snapshot; `recursive` covers its own children and
        snapshots only (never -R: dependent clones are the user's data)."""

    def destroy_in_use(self, name: str, mountpoint: str) -> None:
        """Destroy, without -r, a just-used dataset mounted at mountpoint (a
        container's clone). Where unmount_before_destroy, it is unmounted
        first, unless something is mounted below it (zfs-fuse's unmount would
        take that along), and mounted again when the destroy fails, so a
        dataset that stays is as it was."""
        import os
        from .stale import mount_points
        mounts = mount_points()
        mountpoint = os.path.realpath(mountpoint)      # as the mount table spells it
        fstype, source = _top_mount(mountpoint, mounts)
        if not self.unmount_before_destroy or source != name or _mounted_below(mountpoint, mounts):
            # Not mounted there (nothing to unmount), something mounted on
            # top of it or below it (an unmount would take that instead, or
            # along): zfs destroy decides alone.
            self.destroy(name)
            return
        from ..errors import JockerError
        try:
            self.unmount_in_use(name, mountpoint, fstype)
        except JockerError:
            self.destroy(name)              # gone or not mounted: destroy says
            return
        try:
            self.destroy(name)
        except JockerError:
            try:
                self.mount(name)
            except JockerError:
                pass                        # the destroy's failure is the one to report
            raise

    def unmount_in_use(self, name: str, mountpoint: str, fstype: str) -> None:
        """destroy_in_use's unmount of name, which the mount table shows
        mounted at mountpoint as fstype, with nothing on top or below."""
        self.unmount(name)

    @abstractmethod
    def rename(self, old: str, new: str) -> None: ...

    @abstractmethod
    def set_props(self, name: str, props: dict[str, str]) -> None: ...

    @abstractmethod
    def inherit(self, name: str, prop: str) -> None:
        """Clear a user property (falls back to the inherited value or none)."""

    def inherit_many(self, names: list[str], prop: str) -> None:
        """inherit() on several datasets (one command where the driver can)."""
        for name in names:
            self.inherit(name, prop)

    @abstractmethod
    def get(self, name: str) -> Dataset:
        """One dataset's stats and local user properties."""

    @abstractmethod
    def tree(self, root: str, pending=None) -> dict[str, Dataset]:
        """Every dataset and snapshot at or below root, in ONE host call;
        pending (from start_tree) is that call already under way."""

    def start_tree(self, root: str):
        """tree(root)'s host call started now and collected later by
        tree(root, pending); None where a driver cannot (it reads at once).
        A pending read not collected is given to discard_tree()."""
        return None

    def discard_tree(self, pending) -> None:
        pass

    @abstractmethod
    def mount(self, name: str) -> None: ...

    @abstractmethod
    def unmount(self, name: str) -> None: ...

    @abstractmethod
    def send(self, snap: str, out: IO[bytes], *, incremental_from: str | None = None) -> None:
        """Write a replication stream of snap (with its properties) to out."""

    @abstractmethod
    def receive(self, name: str, inp: IO[bytes]) -> None:
        """Receive a stream into dataset name, unmounted."""


def _top_mount(path: str, mounts: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(filesystem type, source) of what is mounted last at path, the mount
    one sees there; ("", "") when nothing is."""
    here = [(fstype, source) for p, fstype, source in mounts if p == path.rstrip("/")]
    return here[-1] if here else ("", "")


def _mounted_below(path: str, mounts: list[tuple[str, str, str]]) -> bool:
    """Anything mounted under path (mounts: stale.mount_points())."""
    top = path.rstrip("/") + "/"
    return any(p.startswith(top) for p, _fstype, _source in mounts)
