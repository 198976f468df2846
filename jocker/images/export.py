"""An image's layers as blobs, for push and save.

A layer that came from a blob (pulled, loaded, or pushed once before) is
that blob. Any other layer's tar is written from the difference between the
layer and its parent (layertar), gzip-compressed into the blob store, and
recorded on the layer so the next push or save reuses it.

Layers made before jocker wrote OCI layer tars carry a different digest
(a change-set digest, or the sha256 of the archive given to `import`). They
are mapped, not migrated: their tar is written now and the exported config
lists the tar's real diff ID, so such an image is exported (and appears in a
registry) under a new image ID while the local one keeps working unchanged.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

from ..errors import JockerError
from .blobs import PROP, BlobRef, BlobStore
from .imageconfig import canonical
from .layertar import BUILD_SKIP, EMPTY_ANCHOR, EPOCH_PROP, tree_changes, write_layer
from .state import Image, State

GZIP_LEVEL = 6
MT_OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"

# Docker v2 layer types as their OCI equivalents (the manifests jocker writes are OCI).
OCI_OF = {"application/vnd.docker.image.rootfs.diff.tar.gzip": MT_OCI_GZIP,
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
        import hashlib
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


def prepare(store, st: State, img: Image, blobs: BlobStore, progress=None) -> ExportImage:
    """Blobs for every layer of img (made now when missing)."""
    ids = image_layer_ids(st, img)
    diff_ids = list(img.config["rootfs"]["diff_ids"])
    out: list[ExportLayer] = []
    mapped = False
    for i, lid in enumerate(ids):
        ds = st.datasets.get(store.layout.layer(lid))
        ref = BlobRef.of(ds) if ds is not None else None
        if ref is not None and blobs.has(ref.digest):
            diff_id = ref.diff_id or st.layers[lid].diff_id
            if diff_id != diff_ids[i]:
                diff_ids[i] = diff_id
                mapped = True
            out.append(ExportLayer(lid, diff_id, ref))
            continue
        if progress:
            progress({"id": lid[:12], "status": "Preparing"})
        parent = ids[i - 1] if i else ""
        with store.lock.held():      # prune_blobs (under the lock) never sees it unnamed
            diff_id, ref = _make_blob(store, st, lid, parent, blobs)
            store.zfs.set_props(store.layout.layer(lid), {PROP: ref.encode()})
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


def _make_blob(store, st: State, lid: str, parent: str, blobs: BlobStore) -> tuple[str, BlobRef]:
    with blobs.writer() as w:
        with gzip.GzipFile(fileobj=w, mode="wb", mtime=0, filename="",   # type: ignore[arg-type]
                           compresslevel=GZIP_LEVEL) as gz:
            diff_id = layer_tar(store, st, lid, parent, gz)
        w.commit()
        return diff_id, BlobRef(MT_OCI_GZIP, w.digest, w.size, diff_id)
