"""Writing to the image store: layers, images and tags.

Crash safety without renames (zfs-fuse cannot rename a mounted dataset): a
layer dataset carries `jocker:txn=<pid>` while it is written and until its
image exists; the garbage collector removes such datasets only once that
process is gone. An image appears atomically: its snapshot is created with all
its properties in one `zfs snapshot -o ...` command.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..ids import new_id
from ..errors import JockerError
from ..layout import Layout
from ..lock import EngineLock
from ..storage import props as P
from ..storage.base import ZfsDriver
from .imageconfig import canonical, image_id
from .state import Image, State, load_state, txn_alive


@dataclass
class PendingLayer:
    id: str
    dataset: str
    path: str
    parent: str
    props: dict = field(default_factory=dict)     # set when the dataset was made


class ImageStore:
    def __init__(self, zfs: ZfsDriver, layout: Layout, lock: EngineLock):
        self.zfs = zfs
        self.layout = layout
        self.lock = lock

    def load(self, pending=None) -> State:
        """pending: start_load()'s read, collected instead of a new one."""
        return load_state(self.layout, self.zfs.tree(self.layout.root, pending))

    def start_load(self):
        """load()'s host read started now (None where the driver reads at once)."""
        return self.zfs.start_tree(self.layout.root)

    # -- layers --------------------------------------------------------------
    def begin_layer(self, parent: str = "", props: dict | None = None) -> PendingLayer:
        """A new writable layer dataset, mounted: a clone of parent@layer or
        empty. props: user properties known already (a pull's diff ID and
        blob), set by the create itself; a layer counts only once sealed."""
        lid = new_id()
        name = self.layout.layer(lid)
        props = {"canmount": "noauto", "jocker:txn": str(os.getpid()), **(props or {})}
        if parent:
            self.zfs.clone(self.layout.layer_snapshot(parent), name, props)
        else:
            self.zfs.create(name, props)
        pending = PendingLayer(lid, name, self.layout.layer_path(lid), parent, props)
        if os.path.ismount(pending.path):
            return pending          # zfs-fuse mounts a clone even with canmount=noauto
        try:
            self.zfs.mount(name)
        except JockerError as e:
            # zfs-fuse mounts a clone even with canmount=noauto; that is fine.
            if "already mounted" not in str(e):
                self.abort_layer(pending)
                raise
        return pending

    def finish_layer(self, pending: PendingLayer, diff_id: str, props: dict | None = None, *,
                     sealer: "LayerSealer | None" = None) -> str:
        """Seal the layer: readonly with its diff ID (and props; what the
        create set already is not set again), then snapshot @layer and
        unmount it. Every command counts: ~70 ms each on zfs-fuse, which also
        takes one property per `zfs set`, and a pull pays them per layer.

        sealer: the snapshot is taken first (it is what clones and images
        use, and the first command after the writes pays for flushing them),
        then the sealer unmounts the layer and sets readonly on its worker
        thread while the caller goes on (a pull applies the next layer). The
        layer keeps the writer's pid until release_layers(), so a crash in
        between leaves it to the garbage collector as before."""
        want = {"jocker:layer.diffid": diff_id, **(props or {})}
        rest = {k: v for k, v in want.items() if pending.props.get(k) != v}
        if sealer is not None:
            self.zfs.set_props(pending.dataset, rest)
            self.zfs.snapshot(self.layout.layer_snapshot(pending.id))
            sealer.seal(pending.dataset)
            return pending.id
        self.zfs.set_props(pending.dataset, {**rest, "readonly": "on"})
        self.zfs.snapshot(self.layout.layer_snapshot(pending.id))
        self.zfs.unmount(pending.dataset)
        return pending.id

    def abort_layer(self, pending: PendingLayer) -> None:
        try:
            self.zfs.unmount(pending.dataset)
        except JockerError:
            pass
        if self.zfs.exists(pending.dataset):
            self.zfs.destroy(pending.dataset, recursive=True)

    def release_layer(self, layer_id: str) -> None:
        """Drop our writer mark once an image holds the layer."""
        self.zfs.inherit(self.layout.layer(layer_id), "jocker:txn")

    def release_layers(self, layer_ids: list[str]) -> None:
        """release_layer() of several layers in one command."""
        if layer_ids:
            self.zfs.inherit_many([self.layout.layer(lid) for lid in layer_ids], "jocker:txn")

    @contextmanager
    def layer_mounted(self, layer_id: str):
        """A sealed layer's files, mounted read-only for the duration (diff,
        commit, build digests). Layers are canmount=noauto: nothing stays
        mounted. Serialized by the engine lock, so concurrent users of the same
        layer never unmount it under each other."""
        name = self.layout.layer(layer_id)
        with self.lock.held():
            mounted = self.zfs.get(name).get("mounted") == "yes"
            if not mounted:
                self.zfs.mount(name)
            try:
                yield self.layout.layer_path(layer_id)
            finally:
                if not mounted:
                    self.zfs.unmount(name)

    def find_layer(self, st: State, parent: str, diff_id: str, exclude: str = "") -> str | None:
        """An existing complete layer with the same parent and content.

        Only a sealed one (readonly: a pull snapshots a layer before its
        sealer thread makes it readonly, and a process killed in between
        leaves it snapshotted but open), and none a live writer still holds
        (another process, or another thread of the API server's): it destroys
        its layers when it fails later (a receive has not even checked its
        content yet), and an image made on one would go with them."""
        for layer in st.layers.values():
            if (layer.complete and layer.sealed and layer.id != exclude and layer.parent == parent
                    and layer.diff_id == diff_id and diff_id and not txn_alive(layer.txn)):
                return layer.id
        return None

    # -- images --------------------------------------------------------------
    def create_image(self, layer_id: str, config: dict, tags: list[str] = (),
                     cache_key: str = "", *, raw: bytes | None = None,
                     repo_digests: list[str] = (), state: State | None = None) -> Image:
        """Create (or find) the image for config on layer_id and apply tags.
        raw: the config's exact bytes when they came from elsewhere (pull,
        load): the image ID is their digest. repo_digests: `name@digest`
        references the image is known by in registries. state: the caller's
        picture of the store (a build's), kept current here, so a build step
        reads nothing; an image made meanwhile by someone else is found by
        a fresh read when its snapshot turns out to exist."""
        raw = raw if raw is not None else canonical(config)
        iid = image_id(raw)
        hexid = iid[7:]
        with self.lock.held():
            st = state if state is not None else self.load()
            img = st.images.get(hexid)
            if img is None:
                now = time.time()
                props = {"jocker:image.id": iid}
                props.update(P.encode("image.config", raw.decode()))
                props.update(P.encode_json("image.tags", {t: now for t in tags}))
                if cache_key:
                    props["jocker:image.cache"] = cache_key
                if repo_digests:
                    props.update(P.encode_json("image.repodigests", sorted(set(repo_digests))))
                snap = self.layout.image_snapshot(layer_id, hexid)
                try:
                    self.zfs.snapshot(snap, props)
                except JockerError as e:
                    if state is None or "exists" not in str(e):
                        raise
                    return self.create_image(layer_id, config, tags, cache_key, raw=raw,
                                             repo_digests=repo_digests)
                img = Image(id=iid, snapshot=snap, layer=layer_id, config=config,
                            raw=raw.decode(), tags={t: now for t in tags}, cache_key=cache_key,
                            repo_digests=sorted(set(repo_digests)))
                self._steal_tags(st, img, list(tags))
                if state is not None:
                    st.images[hexid] = img
                    if layer_id in st.layers:
                        st.layers[layer_id].images.append(hexid)
            else:
                if tags:
                    self._add_tags(st, img, list(tags))
                self.add_repo_digests(img, repo_digests)
            return img

    def add_repo_digests(self, img: Image, refs) -> None:
        """Record `name@digest` references; one digest per repository name
        (a re-pull or push replaces the old one)."""
        if not refs:
            return
        names = {r.split("@")[0] for r in refs}
        merged = sorted({r for r in img.repo_digests if r.split("@")[0] not in names} | set(refs))
        if merged != img.repo_digests:
            self.write_json(img.snapshot, "image.repodigests", merged)
            img.repo_digests = merged

    def steal_repo_digests(self, img: Image) -> None:
        """A newer pull of a name: older images of that name lose their
        registry digest (and so become dangling once untagged, as in Docker)."""
        names = {r.split("@")[0] for r in img.repo_digests}
        with self.lock.held():
            for other in self.load().images.values():
                if other.hex != img.hex and any(r.split("@")[0] in names for r in other.repo_digests):
                    keep = [r for r in other.repo_digests if r.split("@")[0] not in names]
                    self.write_json(other.snapshot, "image.repodigests", keep)

    def tag(self, image: Image, tags: list[str]) -> None:
        with self.lock.held():
            st = self.load()
            img = st.images.get(image.hex)
            if img is None:
                raise JockerError(f"image {image.short} disappeared while tagging it")
            self._add_tags(st, img, tags)

    def _add_tags(self, st: State, img: Image, tags: list[str]) -> None:
        now = time.time()
        merged = dict(img.tags)
        changed = False
        for t in tags:
            if st.by_tag().get(t) is not img:
                merged[t] = now
                changed = True
        if changed:
            self.write_tags(img, merged)
            img.tags = merged
        self._steal_tags(st, img, tags)

    def _steal_tags(self, st: State, img: Image, tags: list[str]) -> None:
        """A tag names one image: remove it from every other image."""
        for other in list(st.images.values()):
            if other.hex == img.hex:
                continue
            lost = [t for t in tags if t in other.tags]
            if lost:
                self.write_tags(other, {t: w for t, w in other.tags.items() if t not in lost})

    def write_tags(self, img: Image, tags: dict[str, float]) -> None:
        self.write_json(img.snapshot, "image.tags", tags)
        img.tags = dict(tags)

    def write_json(self, name: str, key: str, obj) -> None:
        """Replace a (possibly chunked) JSON property, clearing stale chunks."""
        current = self.zfs.get(name)
        new = P.encode_json(key, obj)
        self.zfs.set_props(name, new)
        for stale in P.names_for(current, key):
            if stale not in new:
                self.zfs.inherit(name, stale)


class LayerSealer:
    """Unmounts snapshotted layers and makes them readonly on one worker
    thread (finish_layer(sealer=...)), in order. wait() blocks until all are
    sealed and re-raises the first failure; use as a context manager, which
    waits on the way out whatever happened (never leaves the thread
    running), raising only when the body did not."""

    def __init__(self, zfs: ZfsDriver):
        self.zfs = zfs
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="seal")
        self.futures: list = []

    def seal(self, dataset: str) -> None:
        self.futures.append(self.pool.submit(self._seal, dataset))

    def _seal(self, dataset: str) -> None:
        self.zfs.unmount(dataset)
        self.zfs.set_props(dataset, {"readonly": "on"})

    def wait(self) -> None:
        self.pool.shutdown(wait=True)
        for f in self.futures:
            f.result()

    def __enter__(self) -> "LayerSealer":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.wait()
            return
        try:
            self.wait()
        except Exception:
            pass            # the body's failure is the one to report
