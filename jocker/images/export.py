"""An image's layers as blobs, for push and save.

A layer that came from a blob (pulled, loaded, or pushed once before) is
that blob. Any other layer's tar is written from the difference between the
layer and its parent (layertar), gzip-compressed into the blob store, and
recorded on the layer so the next push or save reuses it.

A push may ask for one compression (`compression="zstd"` or "gzip"): each
layer is then its blob in that compression, made when missing from the
same uncompressed tar (its stored blob decompressed, the diff ID checked as
it streams, or else the tar written from the tree) and recorded beside the
others on the layer, so the next such push compresses nothing. Without it
("as stored", for save and a default push): a pulled or loaded layer is the
blob it came with, whatever its compression (a mirror pushes the same
digests); a layer jocker made from a tree (build, commit, import) is its
gzip blob.

Layers made before jocker wrote OCI layer tars carry a different digest
(a change-set digest, or the sha256 of the archive given to `import`). They
are mapped, not migrated: their tar is written now and the exported config
lists the tar's real diff ID, so such an image is exported (and appears in a
registry) under a new image ID while the local one keeps working unchanged.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import JockerError
from .blobs import PROP, BlobRef, BlobStore, DigestMismatch, encode_all
from .compress import MEDIA_TYPE, compressor
from .decompress import GZIP, ZSTD, open_layer
from .imageconfig import canonical
from .layertar import BUILD_SKIP, EMPTY_ANCHOR, EPOCH_PROP, TREE_PROP, tree_changes, write_layer
from .state import Image, State

MAKE_PARALLEL = 3          # layer blobs made at once
MT_OCI_GZIP = MEDIA_TYPE[GZIP]
MT_OCI_ZSTD = MEDIA_TYPE[ZSTD]
MT_OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"

# Docker v2 layer types as their OCI equivalents (the manifests jocker writes are OCI).
OCI_OF = {"application/vnd.docker.image.rootfs.diff.tar.gzip": MT_OCI_GZIP,
          "application/vnd.docker.image.rootfs.diff.tar.zstd": MT_OCI_ZSTD,   # containerd's
          "application/vnd.docker.image.rootfs.diff.tar": MT_OCI_TAR, "": MT_OCI_TAR}


@dataclass
class ExportLayer:
    layer_id: str
    diff_id: str        # as the exported config lists it
    blob: BlobRef


@dataclass
class ExportImage:
    image: Image
    config: bytes       # exact config bytes (the original unless layers were mapped)
    layers: list[ExportLayer]

    @property
    def config_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    def manifest(self) -> bytes:
        return json.dumps({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": self.config_digest,
                       "size": len(self.config)},
            "layers": [{"mediaType": OCI_OF.get(lay.blob.media_type, lay.blob.media_type),
                        "digest": lay.blob.digest,
                        "size": lay.blob.size} for lay in self.layers],
        }, separators=(",", ":")).encode()


def image_layer_ids(st: State, img: Image) -> list[str]:
    """The image's layers from the base up, matched to its config's diff IDs."""
    chain = [lay for lay in st.chain(img.layer) if lay.diff_id != EMPTY_ANCHOR]
    diff_ids = (img.config.get("rootfs") or {}).get("diff_ids") or []
    if len(chain) != len(diff_ids):
        raise JockerError(f"image {img.short}: its config lists {len(diff_ids)} layers but "
                          f"{len(chain)} layer datasets hold it", hint="the image is damaged; rebuild it")
    return [lay.id for lay in chain]


def prepare(store, st: State, img: Image, blobs: BlobStore, progress=None, *,
            runner, compression: str | None = None, level: int | None = None) -> ExportImage:
    """Blobs for every layer of img (made now when missing): in `compression`
    when given (level: of blobs made now), else as stored (module doc).
    runner: the engine's (zstd runs through it)."""
    ids = image_layer_ids(st, img)
    diff_ids = list(img.config["rootfs"]["diff_ids"])
    refs: dict[int, BlobRef] = {}
    todo: list[tuple[int, BlobRef | None]] = []      # (index, stored blob to recompress)
    for i, lid in enumerate(ids):
        ds = st.datasets.get(store.layout.layer(lid)) or {}
        stored = [r for r in BlobRef.all_of(ds) if blobs.has(r.digest)]      # type: ignore[arg-type]
        ref = _choose(stored, compression, ds.get(TREE_PROP) == "1", st.layers[lid].diff_id)
        if ref is not None:
            refs[i] = ref
        else:
            # A stored blob is the layer's own tar even in an entry from before
            # entries named its diff ID (a pulled layer's tar written again
            # from the tree would be other bytes: another image).
            todo.append((i, stored[0] if stored else None))

    stop = threading.Event()

    def make(job: tuple[int, BlobRef | None]) -> None:
        i, source = job
        lid = ids[i]
        if stop.is_set():
            return
        if progress:
            progress({"id": lid[:12], "status": "Preparing"})
        refs[i] = _make_blob(store, runner, st, lid, ids[i - 1] if i else "", blobs, source,
                             compression or GZIP, level,
                             f"image {img.short}, layer {i + 1}/{len(ids)} ({lid[:12]})", stop)

    # Blobs made from stored blobs need no mount: several at once (zlib,
    # sha256 and zstd all run outside the GIL); tar writers take turns on the
    # engine lock (layer_mounted). A failure or Ctrl-C stops the others at
    # their next write and drops the queued ones (the pool's shutdown would
    # otherwise wait for every layer's blob).
    pool = ThreadPoolExecutor(MAKE_PARALLEL)
    try:
        list(pool.map(make, todo))
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    out: list[ExportLayer] = []
    mapped = False
    for i, lid in enumerate(ids):
        ref = refs[i]
        diff_id = ref.diff_id or st.layers[lid].diff_id
        if diff_id != diff_ids[i]:
            diff_ids[i] = diff_id
            mapped = True
        out.append(ExportLayer(lid, diff_id, ref))
    if mapped:
        cfg = json.loads(img.raw)
        cfg["rootfs"]["diff_ids"] = diff_ids
        raw = canonical(cfg)
    else:
        raw = img.raw.encode()
    return ExportImage(img, raw, out)


def _choose(refs: list[BlobRef], compression: str | None, from_tree: bool,
            layer_diff_id: str) -> BlobRef | None:
    """The stored blob to use (None: make one in `compression or gzip`)."""
    if compression is None and refs and not from_tree and refs[0].diff_id in ("", layer_diff_id):
        return refs[0]                  # as pulled or loaded
    # (A first blob of another diff ID was written from the tree by a push:
    # the layer kept none of its own, so it is pushed as gzip by default.)
    want = compression or GZIP
    return next((r for r in refs if r.compression == want), None)


def _record(store, lid: str, blobs: BlobStore, ref: BlobRef) -> None:
    """Add ref to the layer's blobs (replacing one of its compression), read
    afresh under the lock so a concurrent push's blob is not dropped."""
    name = store.layout.layer(lid)
    refs = [r for r in BlobRef.all_of(store.zfs.get(name))
            if r.compression != ref.compression and blobs.has(r.digest)]
    store.zfs.set_props(name, {PROP: encode_all([*refs, ref])})


def layer_tar(store, st: State, lid: str, parent: str, out=None) -> str:
    """Write layer lid's tar (its difference from parent) to out (None: only
    hash it). Returns the tar's diff ID."""
    since = float((st.datasets.get(store.layout.layer_snapshot(parent)) or {}).get("creation", 0)) \
        if parent else 0.0
    with store.layer_mounted(lid) as root:
        if parent:
            with store.layer_mounted(parent) as base:
                changes = tree_changes(base, root, since, BUILD_SKIP)
        else:
            changes = tree_changes(None, root)
        epoch = (st.datasets.get(store.layout.layer(lid)) or {}).get(EPOCH_PROP, "")
        return write_layer(root, changes, out, epoch=int(epoch) if epoch.isdigit() else None)[0]


def _make_blob(store, runner, st: State, lid: str, parent: str, blobs: BlobStore, source: BlobRef | None,
               fmt: str, level: int | None, what: str, stop: threading.Event | None = None) -> BlobRef:
    """Layer lid's tar compressed as fmt into the store and recorded on the
    layer: from the stored blob source (its diff ID checked when its entry
    names one; an older entry's tar is taken as it is) or, without
    one, written from the tree. Kept and recorded under the engine lock, so
    prune_blobs never sees it unnamed (until then it is a `.tmp-<pid>-` file)."""
    with blobs.writer() as w:
        with compressor(runner, fmt, level, w if stop is None else _Stoppable(w, stop, what), what) as sink:
            if source is None:
                diff_id = layer_tar(store, st, lid, parent, sink)
            else:
                diff_id = _recompress(runner, blobs.path(source.digest), sink, what)
        if source is not None and source.diff_id and diff_id != source.diff_id:
            raise DigestMismatch(f"{what}: its blob {source.digest[:19]} holds a tar with diff ID "
                                 f"{diff_id}, not {source.diff_id}",
                                 hint="the blob store is damaged; remove the image and pull it again")
        ref = BlobRef(MEDIA_TYPE[fmt], w.digest, w.size, diff_id)
        with store.lock.held():
            w.commit()
            _record(store, lid, blobs, ref)
        return ref


def _recompress(runner, path: str, sink, what: str) -> str:
    """Copy the uncompressed bytes of the blob at path into sink; their sha256."""
    sha = hashlib.sha256()
    with open_layer(runner, path, what) as plain:
        while True:
            data = plain.read(1 << 20)
            if not data:
                break
            sha.update(data)
            sink.write(data)
    return "sha256:" + sha.hexdigest()


class _Stoppable:
    """A blob writer's write that fails once `stop` is set (prepare stopping)."""

    def __init__(self, w, stop: threading.Event, what: str):
        self.w, self.stop, self.what = w, stop, what

    def write(self, data) -> int:
        if self.stop.is_set():
            raise JockerError(f"{self.what}: stopped")
        return self.w.write(data)

    def tell(self) -> int:
        return self.w.tell()

    def flush(self) -> None:
        self.w.flush()
