"""`jocker import`: a rootfs tarball (FreeBSD's base.txz included), a directory
or standard input becomes a one-layer image.

Order matters for "nothing lost, nothing left": the name is validated and the
archive is read and checked completely before any dataset exists; extraction
failures destroy the half-written layer.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from typing import IO

from .. import scratch
from ..errors import UsageError
from ..host.runner import Runner
from ..times import now_rfc3339
from .imageconfig import new_config
from .layertar import TREE_PROP, tree_changes, write_layer
from .state import Image, default_tag
from .store import ImageStore
from .tarcheck import scan


def _spool_stream(stream: IO[bytes], tmpdir: str) -> str:
    fd, path = scratch.mkstemp("import", tmpdir, ".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _tar_directory(src: str, tmpdir: str) -> str:
    """A deterministic tar of a directory (sorted names, numeric owners)."""
    fd, path = scratch.mkstemp("import", tmpdir, ".tar")
    os.close(fd)

    def add(tar: tarfile.TarFile, full: str, arc: str) -> None:
        info = tar.gettarinfo(full, arcname=arc)
        if info is None:          # a socket: nothing to archive, as tar(1) skips it
            return
        info.uname = info.gname = ""
        if info.isreg():
            with open(full, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
        if info.isdir():
            for name in sorted(os.listdir(full)):
                add(tar, os.path.join(full, name), f"{arc}/{name}" if arc != "." else name)

    try:
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            add(tar, src, ".")
    except BaseException:
        os.unlink(path)
        raise
    return path


def import_image(store: ImageStore, runner: Runner, source: str, ref: str | None, *,
                 message: str = "", changes: dict | None = None,
                 stdin: IO[bytes] | None = None) -> Image:
    tags = [default_tag(ref)] if ref else []          # validate before any work
    scratch.private_dir(store.layout.tmpdir)
    spooled = None
    try:
        if source == "-":
            spooled = path = _spool_stream(stdin or sys.stdin.buffer, store.layout.tmpdir)
        elif os.path.isdir(source):
            spooled = path = _tar_directory(source, store.layout.tmpdir)
        elif os.path.isfile(source):
            path = source
        else:
            raise UsageError(f"import source {source!r} is neither a file, a directory nor '-'",
                             hint="give a rootfs tarball (e.g. base.txz), a directory, or - for stdin")
        scan(path, runner)
        pending = store.begin_layer()
        try:
            runner.run(["tar", "-x", "-p", "-f", path, "-C", pending.path, "--numeric-owner"],
                       timeout=3600, hint="the archive could not be extracted")
            # The layer's identity is its canonical layer tar (layertar), not
            # the bytes of the archive given: that is what save/push write.
            diff_id, _ = write_layer(pending.path, tree_changes(None, pending.path))
            store.zfs.set_props(pending.dataset, {TREE_PROP: "1"})
            st = store.load()
            layer_id = store.find_layer(st, "", diff_id, exclude=pending.id)
            fresh = layer_id is None
            if fresh:
                layer_id = store.finish_layer(pending, diff_id)
            else:                   # the same content is already a layer: share it
                store.abort_layer(pending)
        except BaseException:
            store.abort_layer(pending)
            raise
        created = now_rfc3339()
        origin = "-" if source == "-" else os.path.basename(source.rstrip("/")) or source
        config = new_config(
            diff_ids=[diff_id], created=created,
            container_config=dict(changes or {}),
            history=[{"created": created, "created_by": f"jocker import {origin}",
                      **({"comment": message} if message else {})}])
        try:
            return store.create_image(layer_id, config, tags)
        finally:
            if fresh:
                store.release_layer(layer_id)
    finally:
        if spooled:
            os.unlink(spooled)

