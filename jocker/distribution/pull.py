"""`jocker pull`: manifest (or index, then the platform's manifest), config,
missing layers downloaded in parallel into the blob store (each verified
against its digest), then applied in order onto clones (each verified against
its diff ID), then the image snapshot created in one step.

Nothing partial stays listed: layers carry the writer's pid until the image
exists (the garbage collector removes them once that process is gone), blobs
land under a temporary name and are renamed only after verification, and the
image appears atomically with its tags.
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor

from ..errors import NotFound, UsageError
from ..images.blobs import BlobStore, DigestMismatch
from ..images.imageconfig import host_arch, host_os
from ..images.leases import Lease
from ..images.state import Image
from .assemble import Target, assemble, present, sha256
from .client import Client, RegistryError, Unreachable
from .names import Remote

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
PARALLEL = 3                 # layers downloaded at once
MAX_CONFIG = 8 << 20
RETRIES = 3                  # a broken layer download is continued this many times


def parse_platform(text: str | None) -> tuple[str, str, str]:
    if not text:
        return host_os(), host_arch(), ""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. freebsd/amd64")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def choose(index: dict, platform: tuple[str, str, str], what: str) -> dict:
    want_os, want_arch, want_var = platform
    avail = []
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        avail.append("/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x))
        if p.get("os") == want_os and p.get("architecture") == want_arch and \
                (not want_var or p.get("variant") == want_var):
            return m
    shown = ", ".join(a for a in avail if a and "unknown" not in a) or "none"
    raise NotFound(f"{what}: no matching manifest for {'/'.join(x for x in platform if x)} in the "
                   f"manifest list (available: {shown})", hint="choose one with --platform")


def fetch_manifest(client: Client, remote: Remote, platform, what: str) -> tuple[dict, bytes, str]:
    """(manifest, its bytes, the digest users pull by: the index's when there is one)."""
    data, mtype, header = client.get_manifest(remote.repository, remote.reference, what)
    digest = sha256(data)
    if remote.digest and digest != remote.digest:
        raise DigestMismatch(f"{what}: manifest digest mismatch: asked for {remote.digest}, got {digest}")
    if header and header != digest:
        raise DigestMismatch(f"{what}: manifest digest mismatch: registry says {header}, content is {digest}")
    try:
        doc = json.loads(data)
    except ValueError:
        raise RegistryError(f"{what}: the manifest is not JSON") from None
    mtype = doc.get("mediaType") or mtype
    if mtype in INDEX_TYPES or "manifests" in doc:
        entry = choose(doc, platform, what)
        sub, _, _ = client.get_manifest(remote.repository, entry["digest"], what)
        if sha256(sub) != entry["digest"]:
            raise DigestMismatch(f"{what}: manifest digest mismatch for {entry['digest']}")
        return json.loads(sub), sub, digest
    if mtype not in MANIFEST_TYPES and "layers" not in doc:
        raise RegistryError(f"{what}: unsupported manifest type {mtype!r}",
                            hint="jocker reads OCI and Docker v2 schema 2 manifests")
    return doc, data, digest


class Puller:
    def __init__(self, engine, client: Client, blobs: BlobStore, progress=None):
        self.engine = engine
        self.store = engine.store
        self.client = client
        self.blobs = blobs
        self.progress = progress or (lambda event: None)

    def pull(self, remote: Remote, platform, tags: list[str]) -> tuple[Image, str]:
        what = f"image {remote.registry}/{remote.repository}:{remote.reference}"
        if remote.digest:
            what = f"image {remote.registry}/{remote.repository}@{remote.digest}"
        manifest, _, digest = fetch_manifest(self.client, remote, platform, what)
        self.progress({"status": f"{remote.reference}: Pulling from {remote.repository}"})
        config_desc = manifest["config"]
        resp = self.client.open_blob(remote.repository, config_desc["digest"], f"{what}: config")
        try:
            raw = resp.read(MAX_CONFIG + 1)
        finally:
            resp.close()
        if sha256(raw) != config_desc["digest"]:
            raise DigestMismatch(f"{what}: config digest mismatch: expected {config_desc['digest']}, "
                                 f"got {sha256(raw)}")
        try:
            config = json.loads(raw)
        except ValueError:
            raise RegistryError(f"{what}: the image config is not JSON") from None
        layers = [l for l in manifest.get("layers") or [] if "foreign" not in l.get("mediaType", "")
                  and "nondistributable" not in l.get("mediaType", "")]
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(layers) != len(diff_ids):
            raise RegistryError(f"{what}: the manifest lists {len(layers)} layers, the config "
                                f"{len(diff_ids)} diff IDs")
        have = present(self.engine, diff_ids)
        for l in layers[:len(have)]:
            self.progress({"id": l["digest"][7:19], "status": "Already exists"})
        todo = list(enumerate(layers))[len(have):]
        target = Target(what, raw, config, layers, tags, [f"{remote.local}@{digest}"],
                        f"{remote.registry}/{remote.repository}")
        with Lease(self.engine.layout.rundir) as lease:     # prune keeps our blobs
            for _, desc in todo:
                lease.add(desc["digest"])
            with ThreadPoolExecutor(PARALLEL) as pool:
                futures = {i: pool.submit(self._download, remote, what, len(layers), i, desc)
                           for i, desc in todo}
                try:
                    img = assemble(self.engine, self.blobs, target, have, self.progress,
                                   ready=lambda i: futures[i].result())
                except BaseException:
                    for f in futures.values():
                        f.cancel()
                    raise
            return img, digest

    def _download(self, remote, what, total, i, desc) -> None:
        """Fetch one layer blob into the store. A connection that breaks or
        ends early is asked again for the rest (HTTP Range), up to RETRIES
        times; a process killed half way leaves the partial blob, and the next
        pull continues it. The digest is checked over the whole blob."""
        short = desc["digest"][7:19]
        if self.blobs.has(desc["digest"]):
            return
        lwhat = f"{what}, layer {i + 1}/{total} ({desc['digest'][:19]})"
        size = int(desc.get("size") or 0)
        with self.blobs.resumable(desc["digest"]) as w:
            self.progress({"id": short, "status": "Pulling fs layer" if not w.size else
                           f"Resuming at {w.size} bytes"})
            for attempt in range(RETRIES + 1):
                try:
                    self._fetch(remote, desc, w, lwhat, short, size)
                except _Broken as e:
                    if attempt == RETRIES:
                        raise RegistryError(f"{lwhat}: download failed after {RETRIES + 1} attempts: {e}",
                                            hint="the connection keeps breaking; pull again to "
                                                 "continue where it stopped") from None
                    self.progress({"id": short, "status": f"Retrying from {w.size} bytes ({e})"})
                    continue
                break
            w.commit(desc["digest"], what=lwhat)
        self.progress({"id": short, "status": "Download complete"})

    def _fetch(self, remote, desc, w, lwhat, short, size) -> None:
        """One GET of what w lacks; raises _Broken when it ends short."""
        start = w.size
        if size and start >= size:
            return
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            resp = self.client.request("GET", f"/v2/{remote.repository}/blobs/{desc['digest']}",
                                       scope=f"repository:{remote.repository}:pull", headers=headers,
                                       ok=(200, 206, 416), what=lwhat)
        except Unreachable as e:
            raise _Broken(str(e)) from None
        try:
            if resp.status == 416 or (start and not _continues(resp, start)):
                w.restart()                     # no ranges here: the whole blob again
                if resp.status == 416:
                    raise _Broken("the registry refused the range")
            while True:
                try:
                    data = resp.read(1 << 20)
                except (OSError, ValueError, http.client.HTTPException) as e:
                    raise _Broken(str(e) or type(e).__name__) from None
                if not data:
                    break
                w.write(data)
                if size and w.size > size:
                    raise DigestMismatch(f"{lwhat}: more data than the {size} bytes announced")
                self.progress({"id": short, "status": "Downloading", "current": w.size, "total": size})
            w.flush()
            if size and w.size != size:
                raise _Broken(f"truncated: got {w.size} of {size} bytes")
        finally:
            resp.close()


class _Broken(Exception):
    """A download that stopped before the end (worth asking for the rest)."""


def _continues(resp, start: int) -> bool:
    """A 206 whose Content-Range starts where we are."""
    return resp.status == 206 and resp.header("content-range").startswith(f"bytes {start}-")
