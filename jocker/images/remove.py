"""Removing images (rmi, prune) and collecting leftovers of interrupted work.

Docker's rules: removing a tag of an image that has other tags only untags;
removing the last tag deletes the image unless containers or child images
still use it; an ID with several tags needs --force; an image that child
images are built on cannot be deleted at all. When an image goes, the layers
no other image or container needs go with it, and so do untagged parent
images left without children (intermediate build images).
"""

from __future__ import annotations


import logging

from .. import scratch
from ..errors import Conflict, JockerError
from ..filters import labels_match
from ..layout import Layout
from ..storage.base import ZfsDriver
from .blobs import BlobStore, referenced
from .leases import leased
from .state import Image, State, txn_alive
from .store import ImageStore

log = logging.getLogger("jocker.images")


def remove_image(store: ImageStore, ref: str, *, force: bool = False,
                 running: set[str] = frozenset(), prune_parents: bool = True) -> list[str]:
    """`jocker rmi REF`: returns Docker's `Untagged: ...` / `Deleted: ...` lines."""
    with store.lock.held():
        st = store.load()
        img = st.resolve(ref)
        live = st.live_tags(img)
        tags_before = dict(img.tags)
        by_name = ref in img.tags or _normalized(ref) in img.tags
        untag_only = by_name and (len(live) > 1 or bool(st.children_of(img)))
        builder = leased(store.layout.rundir).get(img.id)
        if builder and not force and not untag_only:
            raise Conflict(f"conflict: unable to remove {ref}: image {img.short} is being used by "
                           f"a running jocker process (pid {builder}: a build, a push or an image send)",
                           hint="wait for it to finish, or use -f")
        out: list[str] = []
        if "@" in ref and ref in img.repo_digests:      # a registry digest reference
            rest = [r for r in img.repo_digests if r != ref]
            store.write_json(img.snapshot, "image.repodigests", rest)
            img.repo_digests = rest
            out.append(f"Untagged: {ref}")
            if not (live or rest or img.containers or st.children_of(img)):
                out += _delete(store, st, img, prune_parents)
                prune_blobs(store, st)
            return out
        if by_name:
            tag = ref if ref in img.tags else _normalized(ref)
            if untag_only:
                store.write_tags(img, {t: w for t, w in img.tags.items() if t != tag})
                return [f"Untagged: {tag}"]
            if img.containers and not force:
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) - '
                               f"container {img.containers[0][:12]} is using its referenced image {img.short}")
            store.write_tags(img, {t: w for t, w in img.tags.items() if t != tag})
            out.append(f"Untagged: {tag}")
            if img.containers:          # forced: untagged, but the clone still needs the data
                return out
            out += [f"Untagged: {r}" for r in img.repo_digests]
        else:
            if st.children_of(img):
                raise Conflict(f"conflict: unable to delete {img.short} (cannot be forced) - "
                               "image has dependent child images")
            users = [c for c in img.containers]
            busy = [c for c in users if c in running]
            if busy:
                raise Conflict(f"conflict: unable to delete {img.short} (cannot be forced) - "
                               f"image is being used by running container {busy[0][:12]}")
            if users and not force:
                raise Conflict(f"conflict: unable to delete {img.short} (must be forced) - "
                               f"image is being used by stopped container {users[0][:12]}")
            if len(live) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {img.short} (must be forced) - "
                               "image is referenced in multiple repositories")
            out += [f"Untagged: {t}" for t in live]
            if users:
                # Forced: like Docker, the image loses its tags but stays (dangling)
                # while the container's clone needs its snapshot.
                store.write_tags(img, {})
                return out
        try:
            out += _delete(store, st, img, prune_parents)
        except JockerError as e:
            if store.zfs.exists(img.snapshot):
                # Not ours to take (a clone outside jocker's tree holds the
                # snapshot): the image keeps the tags it had, as it was.
                store.write_tags(img, tags_before)
                raise Conflict(f"conflict: unable to delete {img.short}: ZFS refused to destroy "
                               f"{img.snapshot} ({e})",
                               hint="a dataset cloned from it (zfs list -o name,origin) must go first") from None
            raise
        prune_blobs(store, st)
        return out


def prune_blobs(store: ImageStore, st: State | None = None) -> list[str]:
    """Blobs no layer records and no live pull holds (blobs.py). Under the
    engine lock: writers name or lease a blob under it right as they keep it.
    st: a state kept current by the caller (its removed layers are skipped)."""
    with store.lock.held():
        st = st or store.load()
        prefix = store.layout.layers + "/"
        keep = referenced(ds for name, ds in st.datasets.items()
                          if name.startswith(prefix) and name[len(prefix):].split("@")[0] in st.layers)
        return BlobStore(store.layout.mountpoint).prune(keep | set(leased(store.layout.rundir)))


def _normalized(ref: str) -> str:
    return ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"


def _delete(store: ImageStore, st: State, img: Image, prune_parents: bool) -> list[str]:
    """Destroy the image snapshot, then layers and parents nothing else needs."""
    store.zfs.destroy(img.snapshot)
    _forget(st, img.snapshot)
    out = [f"Deleted: {img.id}"]
    layer = st.layers[img.layer]
    layer.images.remove(img.hex)
    del st.images[img.hex]
    out += _drop_unused_layers(store.zfs, st, layer.id)
    if prune_parents and img.parent:
        parent = st.images.get(img.parent[7:])
        if parent and not parent.tags and not st.children_of(parent) and not parent.containers:
            out += _delete(store, st, parent, prune_parents)
    return out


def _drop_unused_layers(zfs: ZfsDriver, st: State, layer_id: str) -> list[str]:
    out: list[str] = []
    while layer_id in st.layers:
        layer = st.layers[layer_id]
        if layer.images or layer.children or txn_alive(layer.txn) or layer.foreign_snapshots:
            break
        zfs.destroy(layer.dataset, recursive=True)
        _forget(st, layer.dataset)
        out.append(f"Deleted: {layer.diff_id or 'layer ' + layer.id[:12]}")
        del st.layers[layer_id]
        parent = layer.parent
        if parent in st.layers:
            st.layers[parent].children.remove(layer_id)
        layer_id = parent
    return out


def prune_images(store: ImageStore, *, all_unused: bool = False,
                 label_filters: list[tuple[str, str | None, bool]] = (),
                 state: State | None = None) -> tuple[list[str], int]:
    """Remove dangling images (or every image no container uses, with all_unused).

    Returns the removal lines and the bytes reclaimed (from ZFS's own accounting).
    """
    out: list[str] = []
    with store.lock.held():
        in_use = leased(store.layout.rundir)      # images running builds stand on
        # One read: _delete keeps st up to date, so the store is never read
        # again (230 images used to cost 230 reads); one destroy per object.
        st = state or store.load()      # read under the lock by the caller, or here
        before = _layers_used(st)
        changed = True
        while changed:          # removing a child can make its parent prunable
            changed = False
            for img in sorted(st.images.values(), key=lambda i: -i.created):
                if img.containers or st.children_of(img) or img.id in in_use:
                    continue
                if not all_unused and not st.is_dangling(img):
                    continue
                if not labels_match(img.labels, label_filters):
                    continue
                out += [f"untagged: {t}" for t in st.live_tags(img)]
                out += [line.replace("Deleted", "deleted") for line in _delete(store, st, img, False)]
                changed = True
                break
        after = _layers_used(st)
        prune_blobs(store, st)
    return out, max(0, before - after)


def _layers_used(st: State) -> int:
    return sum(layer.own for layer in st.layers.values())


def collect_garbage(store: ImageStore, state: State | None = None) -> tuple[list[str], int]:
    """Remove leftovers of interrupted imports, pulls and builds (their
    process is gone): torn image snapshots, unfinished or imageless layers,
    layers left mounted, and spools and contexts in jocker's .tmp. Returns
    what went and the bytes it held (ZFS's `used` of each destroyed object,
    the blocks of each removed file). state: a picture of the store kept
    current by the caller under the lock (image prune's), or read here."""
    removed: list[str] = []
    freed = 0
    with store.lock.held():
        st = state or store.load()
        for snap in st.stray_snapshots:
            store.zfs.destroy(snap)
            removed.append(snap)
            freed += _used(st, snap)
            _forget(st, snap)
        st.stray_snapshots = []
        for layer in sorted(st.layers.values(), key=lambda l: -len(st.chain(l.id))):
            if layer.id not in st.layers or txn_alive(layer.txn) or layer.foreign_snapshots:
                continue
            if not layer.complete or (not layer.images and not layer.children):
                if _has_dependents(store.layout, st, layer.dataset):
                    continue
                try:
                    store.zfs.unmount(layer.dataset)
                except JockerError:
                    pass
                try:
                    store.zfs.destroy(layer.dataset, recursive=True)
                except JockerError as e:
                    if "busy" not in str(e):
                        raise
                    # A killed build's step may still be dying inside it (its
                    # processes go asynchronously): the next prune gets it,
                    # and this one goes on with the rest.
                    log.warning("%s is still in use; a later prune removes it", layer.dataset)
                    continue
                removed.append(layer.dataset)
                freed += _used(st, layer.dataset)
                _forget(st, layer.dataset)
                del st.layers[layer.id]
                if layer.parent in st.layers:
                    st.layers[layer.parent].children.remove(layer.id)
        # A sealed layer is mounted only inside store.layer_mounted(), which
        # holds this lock: one still mounted now was left by a killed process.
        for layer in st.layers.values():
            ds = st.datasets.get(layer.dataset) or {}
            if layer.complete and not txn_alive(layer.txn) and ds.get("mounted") == "yes":
                try:
                    store.zfs.unmount(layer.dataset)
                    removed.append(f"{layer.dataset} (left mounted)")
                except JockerError:
                    pass
        prune_blobs(store, st)
    # Spools of killed imports, contexts of killed `build -` (jocker's own
    # .tmp only: the shared temp directory holds other users' files).
    paths, files_freed = scratch.collect([store.layout.tmpdir])
    return removed + paths, freed + files_freed


def _used(st: State, name: str) -> int:
    """What destroying name (recursively) frees: its `used` as read (a
    dataset's counts its snapshots and children)."""
    ds = st.datasets.get(name)
    return ds.int("used") if ds is not None else 0


def _forget(st: State, dataset: str) -> None:
    """Keep the picture current after a destroy: the dataset, its snapshots
    and children are gone. A sealed layer whose only clone was a killed
    step's layer, destroyed a moment ago in the same pass, is then garbage
    too (judging from the picture read before used to keep it one more
    prune: the kill loop's one-in-five leak)."""
    for name in [n for n in st.datasets if n == dataset or n.startswith((dataset + "@", dataset + "/"))]:
        del st.datasets[name]


def _has_dependents(layout: Layout, st: State, dataset: str) -> bool:
    """Any clone (layer, container, build) whose origin is a snapshot of dataset."""
    return any(ds.get("origin", "").startswith(dataset + "@") for ds in st.datasets.values())
