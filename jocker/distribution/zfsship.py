"""Host to host over ZFS: `jocker image send NAME | ssh host2 jocker image receive`.

The stream carries the image's layers as `zfs send -p` streams, each layer
incremental against its parent layer (a clone stream: the receiver makes the
new layer a clone of its copy of the parent, found by the snapshot's GUID),
the base layer in full. Layers the receiver already has from an earlier
receive are left out when the sender is given the receiver's list
(`jocker image have` on the receiver, `--have FILE` on the sender).

    JOCKER-ZFS-IMAGE 1\\n
    <header length>\\n<header JSON>       image config (exact bytes), tags,
                                         RepoDigests, and per layer: GUID,
                                         diff ID, tree ID, stream size (0: the
                                         receiver has it)
    <stream of layer 1>[<blob of layer 1>]<stream of layer 2>...

The receiver verifies each layer it gets: the layer tar written from the
received tree must have the tree ID the sender computed from its own (for
layers jocker built, that is the diff ID itself). A failure destroys every
layer received, and the image appears only at the end, in one step.

Layer blobs travel too: a layer sent with its compressed blob (what it was
pulled or loaded from, or the gzip blob its first push or save made) has the
blob's bytes after its ZFS stream, and `zfs send -p` carries the layer's
`jocker:layer.blob` naming it. The receiver checks the blob's digest and
keeps it in its blob store, so a push from there sends the same digests
(same manifest, same RepoDigest) without writing a tar or compressing.
`send --no-blobs` leaves them out (smaller stream; a later push from the
receiver writes new tars, and for pulled layers new diff IDs: export.py).
Only a layer's first blob travels: one that a push made in another
compression (a zstd blob beside the gzip one) is named by the property but
made again by the receiver's first push in that compression, from the blob
that came.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading

from .. import scratch
from .verbs import blob_store
from ..errors import JockerError, UsageError
from ..images.blobs import BlobRef
from ..images.export import image_layer_ids, layer_tar
from ..images.leases import Lease, lease_image
from ..images.layertar import TREE_PROP
from ..images.state import Image
from ..ids import new_id

MAGIC = b"JOCKER-ZFS-IMAGE 1\n"
HEADER_LIMIT = 16 << 20


class StreamError(JockerError):
    pass


def have(engine) -> dict:
    """What this host has: the GUIDs of its sealed layers (for `send --have`)."""
    st = engine.load_state()
    guids = []
    for layer in st.layers.values():
        snap = st.datasets.get(engine.layout.layer_snapshot(layer.id))
        if layer.complete and snap is not None and snap.get("guid"):
            guids.append(snap["guid"])
    return {"layers": sorted(guids)}


def send(engine, name: str, out, *, have_guids: set[str] = frozenset(), blobs: bool = True,
         progress=None) -> None:
    progress = progress or (lambda event: None)
    # The image and its blobs are leased while they stream (the stream can
    # wait on a slow ssh for minutes): rmi refuses it and prune keeps them.
    with Lease(engine.layout.rundir) as lease:
        st, img = lease_image(engine, lease, name)
        for lay in st.chain(img.layer):
            ref = BlobRef.of(st.datasets.get(engine.layout.layer(lay.id)) or {})
            if ref is not None:
                lease.add(ref.digest)       # prune keeps them while they stream
        _send(engine, st, img, out, have_guids, blobs, progress)


def _send(engine, st, img, out, have_guids, blobs: bool, progress) -> None:
    store = blob_store(engine)
    ids = [lay.id for lay in st.chain(img.layer)]
    image_layer_ids(st, img)              # refuses a damaged image before any work
    layers = []
    scratch.private_dir(engine.layout.tmpdir)
    with tempfile.TemporaryDirectory(prefix="send-", dir=engine.layout.tmpdir) as tmp:
        for i, lid in enumerate(ids):
            parent = ids[i - 1] if i else ""
            snap = engine.layout.layer_snapshot(lid)
            guid = (st.datasets.get(snap) or {}).get("guid", "")
            entry = {"guid": guid, "diff_id": st.layers[lid].diff_id, "size": 0}
            if guid and guid in have_guids:
                layers.append(entry)
                progress({"id": lid[:12], "status": "Already on the receiver"})
                continue
            ds = st.datasets.get(engine.layout.layer(lid)) or {}
            entry["tree_id"] = entry["diff_id"] if ds.get(TREE_PROP) == "1" else \
                layer_tar(engine.store, st, lid, parent)
            path = os.path.join(tmp, f"{i}.zfs")
            with open(path, "wb") as f:
                engine.zfs.send(snap, f, incremental_from=engine.layout.layer_snapshot(parent)
                                if parent else None)
            entry["size"] = os.path.getsize(path)
            ref = BlobRef.of(ds)
            if blobs and ref is not None and store.has(ref.digest):
                entry["blob"] = {"digest": ref.digest, "size": os.path.getsize(store.path(ref.digest))}
            layers.append(entry)
            progress({"id": lid[:12], "status": f"Sending {entry['size']} bytes"})
        header = json.dumps({"config": img.raw, "tags": st.live_tags(img),
                             "repo_digests": img.repo_digests, "layers": layers}).encode()
        out.write(MAGIC + f"{len(header)}\n".encode() + header)
        for i, entry in enumerate(layers):
            if entry["size"]:
                with open(os.path.join(tmp, f"{i}.zfs"), "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            if entry.get("blob"):
                with open(store.path(entry["blob"]["digest"]), "rb") as f:
                    _copy_exact(f, out, entry["blob"]["size"], f"layer blob {entry['blob']['digest'][:19]}")
        out.flush()


class _Discard:
    def write(self, data) -> int:
        return len(data)


def _read_exact(inp, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        chunk = inp.read(n - len(data))
        if not chunk:
            raise StreamError(f"{what}: the stream ended early ({len(data)} of {n} bytes)",
                              hint="the sender failed or the connection broke; send again")
        data += chunk
    return data


def _copy_exact(inp, out, n: int, what: str) -> None:
    left = n
    while left:
        chunk = inp.read(min(left, 1 << 20))
        if not chunk:
            raise StreamError(f"{what}: the stream ended early ({n - left} of {n} bytes)",
                              hint="the sender failed or the connection broke; send again")
        out.write(chunk)
        left -= len(chunk)


def receive(engine, inp, progress=None) -> Image:
    progress = progress or (lambda event: None)
    if inp.read(len(MAGIC)) != MAGIC:
        raise UsageError("not a jocker image stream (expected `jocker image send` output)")
    line = b""
    while not line.endswith(b"\n") and len(line) < 20:
        c = inp.read(1)
        if not c:
            break
        line += c
    if not line.strip().isdigit() or int(line) > HEADER_LIMIT:
        raise StreamError("jocker image stream: bad header length")
    try:
        header = json.loads(_read_exact(inp, int(line), "jocker image stream header"))
        raw = header["config"].encode()
        config = json.loads(raw)
        entries = header["layers"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StreamError("jocker image stream: the header is not valid") from None
    tags = list(header.get("tags") or [])
    what = f"image {tags[0] if tags else config.get('created', '')}"
    st = engine.load_state()
    by_guid = {}
    for layer in st.layers.values():
        snap = st.datasets.get(engine.layout.layer_snapshot(layer.id)) or {}
        if layer.complete and snap.get("guid"):
            by_guid[snap["guid"]] = layer.id
    scratch.private_dir(engine.layout.tmpdir)
    store = blob_store(engine)
    made: list[str] = []
    parent = ""
    with Lease(engine.layout.rundir) as lease:      # prune keeps the blobs until layers name them
        for entry in entries:
            if isinstance(entry.get("blob"), dict):
                lease.add(str(entry["blob"].get("digest", "")))
        try:
            for i, entry in enumerate(entries):
                lwhat = f"{what}, layer {i + 1}/{len(entries)} ({entry.get('diff_id', '')[:19]})"
                if entry.get("size") and entry.get("guid") in by_guid:
                    # already here (an earlier receive): skip the stream, keep ours
                    _copy_exact(inp, _Discard(), int(entry["size"]), lwhat)
                    parent = by_guid[entry["guid"]]
                    _receive_blob(store, inp, entry, lwhat)
                    continue
                if not entry.get("size"):
                    parent = by_guid.get(entry.get("guid", ""), "")
                    if not parent:
                        raise StreamError(f"{lwhat}: the sender left it out but this host does not have it",
                                          hint="send again without --have, or with this host's `jocker image have`")
                    continue
                parent = _receive_layer(engine, inp, entry, parent, lwhat, made)
                _receive_blob(store, inp, entry, lwhat)
                progress({"id": parent[:12], "status": "Received"})
            img = engine.store.create_image(parent, config, tags, raw=raw,
                                            repo_digests=list(header.get("repo_digests") or []))
        except BaseException:
            for lid in reversed(made):
                try:
                    engine.zfs.destroy(engine.layout.layer(lid), recursive=True)
                except JockerError:
                    pass
            raise
        for lid in made:
            engine.store.release_layer(lid)
    return img


def _receive_blob(store, inp, entry: dict, lwhat: str) -> None:
    """The layer blob after a layer's stream, when the sender sent one:
    verified against its digest and kept (or skipped when here already)."""
    blob = entry.get("blob")
    if not blob:
        return
    try:
        digest, size = str(blob["digest"]), int(blob["size"])
    except (KeyError, TypeError, ValueError):
        raise StreamError(f"{lwhat}: the header's layer blob is not valid") from None
    if store.has(digest):
        _copy_exact(inp, _Discard(), size, lwhat)
        return
    store.ingest(_Limited(inp, size, lwhat), digest, what=f"{lwhat}: layer blob", limit=size)


class _PipeOut:
    """The write end of a pipe into `zfs receive`; once the command stops
    reading (done, or failed: it says why), further data is dropped, so the
    caller still reads exactly the layer's bytes off the incoming stream."""

    def __init__(self, fd: int):
        self.f = open(fd, "wb", buffering=0)
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[self.f.write(view):]
            except BrokenPipeError:
                self.closed = True
        return len(data)

    def __enter__(self) -> "_PipeOut":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.f.close()
        except BrokenPipeError:
            pass


class _Limited:
    """The next n bytes of a stream; ending early is a StreamError."""

    def __init__(self, inp, n: int, what: str):
        self.inp, self.left, self.what, self.n = inp, n, what, n

    def read(self, size: int) -> bytes:
        if not self.left:
            return b""
        data = self.inp.read(min(size, self.left))
        if not data:
            raise StreamError(f"{self.what}: the stream ended early in the layer blob "
                              f"({self.n - self.left} of {self.n} bytes)",
                              hint="the sender failed or the connection broke; send again")
        self.left -= len(data)
        return data


def _receive_layer(engine, inp, entry: dict, parent: str, lwhat: str, made: list[str]) -> str:
    lid = new_id()
    name = engine.layout.layer(lid)
    # The layer's stream goes straight into `zfs receive` through a pipe (a
    # spool file would be written and read back through the pool: 2 x its
    # size more for zfs-fuse). A stream cut short ends the pipe early: the
    # receive fails and ZFS keeps nothing of it; the cut is what is reported.
    r, w = os.pipe()
    failed: list[BaseException] = []

    def pump() -> None:
        try:
            with _PipeOut(w) as pipe:   # the whole layer is read, whatever zfs takes
                _copy_exact(inp, pipe, int(entry["size"]), lwhat)
        except BaseException as e:  # noqa: BLE001 - raised below
            failed.append(e)

    t = threading.Thread(target=pump, name="zfs-receive", daemon=True)
    t.start()
    try:
        with open(r, "rb", buffering=0) as src:
            engine.zfs.receive(name, src)
    except JockerError as e:
        t.join()
        if failed:
            raise failed[0] from None
        raise StreamError(f"{lwhat}: zfs receive failed: {e.message}",
                          hint="the receiver needs the parent layer from an earlier receive; "
                               "send again without --have") from None
    t.join()
    made.append(lid)        # received: it goes with the others whatever fails from here
    if failed:
        raise failed[0]     # zfs receive stopped at its END record before the layer's bytes did
    engine.zfs.set_props(name, {"jocker:txn": str(os.getpid())})
    st = engine.load_state()
    got_parent = st.layers[lid].parent
    if got_parent != parent:
        origin = (st.datasets.get(engine.layout.layer(lid)) or {}).get("origin", "")
        raise StreamError(f"{lwhat}: received onto the wrong parent layer ({origin or 'none'}, "
                          f"expected {parent[:12] or 'none'})")
    got = layer_tar(engine.store, st, lid, parent)
    if got != entry.get("tree_id"):
        raise StreamError(f"{lwhat}: content check failed: the sender's layer is {entry.get('tree_id')}, "
                          f"what arrived is {got}")
    return lid
