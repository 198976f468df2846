"""Turning verified blobs into a local image: used by pull and load.

`present()` finds the layers already here (the same diff ID on the same
parent: not fetched again); `assemble()` applies the missing layer blobs in
order onto clones, checks each against the diff ID its config lists, and
creates the image snapshot in one step. On any failure the layers it made are
destroyed; a killed process leaves them marked with its pid, for the garbage
collector.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..errors import JockerError
from ..images.blobs import PROP, SOURCE_PROP, BlobRef, BlobStore, DigestMismatch, valid_media_type
from ..images.decompress import open_layer
from ..images.layertar import LayerError, apply_layer
from ..images.state import Image
from ..images.store import LayerSealer


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Target:
    """What to make: the config (exact bytes), the layer descriptors, names."""
    what: str                   # "image NAME" for error messages
    raw: bytes
    config: dict
    layers: list[dict]          # {"mediaType", "digest", "size"}, blobs in the store
    tags: list[str]
    repo_digests: list[str]
    source: str = ""            # "<registry>/<repository>" the blobs came from

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    def layer_what(self, i: int) -> str:
        return f"{self.what}, layer {i + 1}/{len(self.layers)} ({self.layers[i]['digest'][:19]})"


def present(engine, diff_ids: list[str]) -> list[str]:
    """Layer IDs of the longest prefix of diff_ids already stored."""
    st = engine.load_state()
    parent, have = "", []
    for d in diff_ids:
        lid = engine.store.find_layer(st, parent, d)
        if lid is None:
            break
        have.append(lid)
        parent = lid
    return have


def assemble(engine, blobs: BlobStore, target: Target, have: list[str], progress,
             ready=None) -> Image:
    """ready(i), when given, blocks until layer i's blob is in the store (a
    pull applies each layer as soon as it and the ones below are there)."""
    store = engine.store
    for i, desc in enumerate(target.layers):
        mtype = desc.get("mediaType") or ""
        if mtype and not valid_media_type(mtype):     # it is stored in a property list
            raise JockerError(f"{target.layer_what(i)}: invalid media type {mtype[:80]!r}",
                              hint="the registry or archive sent a malformed descriptor")
    parent = have[-1] if have else ""
    made: list[str] = []
    try:
        # Each layer is snapshotted as soon as it is verified (the next one
        # is cloned from it); unmounting it and setting readonly happen on
        # the sealer's thread meanwhile, all done before the image exists.
        with LayerSealer(engine.zfs) as sealer:
            for i in range(len(have), len(target.layers)):
                if ready is not None:
                    ready(i)
                parent = _apply(engine, blobs, target, i, parent, progress, sealer)
                made.append(parent)
        if not parent:
            raise JockerError(f"{target.what}: images without layers are not supported")
        img = store.create_image(parent, target.config, target.tags, raw=target.raw,
                                 repo_digests=target.repo_digests)
    except BaseException:
        for lid in reversed(made):
            try:
                engine.zfs.destroy(engine.layout.layer(lid), recursive=True)
            except JockerError:
                pass        # the garbage collector gets it (its writer pid is gone)
        raise
    store.release_layers(made)
    return img


def _apply(engine, blobs: BlobStore, target: Target, i: int, parent: str, progress,
           sealer: LayerSealer) -> str:
    desc = target.layers[i]
    short = desc["digest"][7:19]
    lwhat = target.layer_what(i)
    diff_id = target.diff_ids[i]
    progress({"id": short, "status": "Extracting"})
    path = blobs.path(desc["digest"])
    # Everything the layer will record is known now: the create sets it, and
    # the layer counts only once sealed (after the diff ID is checked).
    props = {"jocker:layer.diffid": diff_id,
             PROP: BlobRef(desc.get("mediaType", ""), desc["digest"], os.path.getsize(path), diff_id).encode()}
    if target.source:
        props[SOURCE_PROP] = target.source
    pending = engine.store.begin_layer(parent, props)
    try:
        try:
            with open_layer(engine.runner, path, lwhat) as plain:
                got, _ = apply_layer(plain, pending.path, what=lwhat, read_ahead=True)
        except (OSError, EOFError) as e:
            raise LayerError(f"{lwhat}: corrupt compressed data: {e}") from None
        if got != diff_id:
            raise DigestMismatch(f"{lwhat}: diff ID mismatch: the config says {diff_id}, "
                                 f"the layer is {got}")
        lid = engine.store.finish_layer(pending, diff_id, sealer=sealer)
    except BaseException:
        engine.store.abort_layer(pending)
        raise
    progress({"id": short, "status": "Pull complete"})
    return lid
