"""`jocker push`: each layer blob is checked (HEAD) and skipped when the
registry has it, mounted from another repository of the same registry when
jocker knows one that holds it, or uploaded (one PUT, or PATCH chunks for big
blobs); then the config, then the OCI manifest under the tag. The manifest
digest becomes a RepoDigest of the local image.

A chunked upload is resumable: after each chunk the session's URL is kept
beside the blob (BlobStore.upload_session); a chunk whose connection breaks,
or a later push after a killed one, asks the session how far it got (GET on
its URL, `Range: 0-<last>`) and sends only the rest. A registry that forgot
the session, or cancels it, gets a new upload from the start: Docker's
registry (distribution) cancels a session whose signed `_state` names fewer
bytes than it holds, i.e. when part of a broken chunk landed; a chunk that
did not land at all, or a push killed between chunks, continues.

`compression` ("gzip" or "zstd", None: as stored) picks the layer blobs
(images/export.py makes and keeps the ones missing); a zstd layer is
`application/vnd.oci.image.layer.v1.tar+zstd` in the OCI manifest (Docker's
v2 schema 2 has no zstd type)."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from ..images.blobs import SOURCE_PROP, BlobStore
from ..images.export import MT_OCI_MANIFEST, ExportImage, prepare
from ..images.leases import Lease, lease_image
from ..images.state import Image
from .assemble import sha256
from .client import Client, RegistryError, Unreachable
from .names import Remote

CHUNK = 32 << 20                 # blobs larger than this go up in PATCH chunks
PARALLEL = 3                     # layers uploaded at once
RETRIES = 3                      # a broken chunked upload is continued this many times


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})


class Pusher:
    def __init__(self, engine, client: Client, blobs: BlobStore, progress=None, chunk: int = CHUNK,
                 compression: str | None = None, level: int | None = None):
        self.engine = engine
        self.compression, self.level = compression, level
        self.client = client
        self.blobs = blobs
        self.progress = progress or (lambda event: None)
        self.chunk = chunk

    def push(self, img: Image, remote: Remote) -> tuple[str, int]:
        repo = remote.repository
        scope = f"repository:{repo}:pull,push"
        self.progress({"status": f"The push refers to repository [{remote.registry}/{repo}]"})
        # Leased while it uploads (minutes, for big layers): rmi refuses to
        # delete the image and prune keeps the blobs being sent.
        with Lease(self.engine.layout.rundir) as lease:
            st, _ = lease_image(self.engine, lease, img.id)     # NotFound when an rmi came first
            exp: ExportImage = prepare(self.engine.store, st, img, self.blobs, self.progress,
                                       compression=self.compression, level=self.level,
                                       runner=self.engine.runner)
            for lay in exp.layers:
                lease.add(lay.blob.digest)
            return self._send(img, remote, exp, st, scope)

    def _send(self, img: Image, remote: Remote, exp: ExportImage, st, scope: str) -> tuple[str, int]:
        repo = remote.repository
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda lay: self._push_layer(st, lay, remote, scope), exp.layers))
        if not self.client.has_blob(repo, exp.config_digest, scope):
            self._upload(repo, scope, exp.config_digest, len(exp.config), "config", data=exp.config)
        manifest = exp.manifest()
        resp = self.client.request("PUT", f"/v2/{repo}/manifests/{remote.tag or 'latest'}", scope=scope,
                                   headers={"Content-Type": MT_OCI_MANIFEST,
                                            "Content-Length": str(len(manifest))},
                                   body=manifest, ok=(201, 200), what=f"pushing the manifest of {remote.local}")
        resp.close()
        digest = sha256(manifest)
        if exp.config == img.raw.encode():
            self.engine.store.add_repo_digests(img, [f"{remote.local}@{digest}"])
        return digest, len(manifest)

    def _push_layer(self, st, lay, remote: Remote, scope: str) -> None:
        repo = remote.repository
        short = lay.blob.digest[7:19]
        ds = st.datasets.get(self.engine.layout.layer(lay.layer_id)) or {}
        source = ds.get(SOURCE_PROP, "")
        if self.client.has_blob(repo, lay.blob.digest, scope):
            self.progress({"id": short, "status": "Layer already exists"})
        elif self._mount(repo, lay.blob.digest, source, remote, scope):
            self.progress({"id": short, "status": f"Mounted from {source.split('/', 1)[1]}"})
        else:
            self._upload(repo, scope, lay.blob.digest, lay.blob.size, short,
                         path=self.blobs.path(lay.blob.digest))
            self.progress({"id": short, "status": "Pushed"})
        if source != f"{remote.registry}/{repo}":
            self.engine.zfs.set_props(self.engine.layout.layer(lay.layer_id),
                                      {SOURCE_PROP: f"{remote.registry}/{repo}"})

    def _mount(self, repo: str, digest: str, source: str, remote: Remote, scope: str) -> bool:
        reg, _, src_repo = source.partition("/")
        if reg != remote.registry or not src_repo or src_repo == repo:
            return False
        q = urllib.parse.urlencode({"mount": digest, "from": src_repo})
        resp = self.client.request("POST", f"/v2/{repo}/blobs/uploads/?{q}",
                                   scope=f"{scope} repository:{src_repo}:pull",
                                   headers={"Content-Length": "0"}, ok=(201, 202),
                                   what=f"mounting {digest[:19]} from {src_repo}")
        resp.close()
        if resp.status == 202:          # not mounted: cancel the upload it opened
            loc = resp.header("location")
            if loc:
                try:
                    self.client.request("DELETE", urllib.parse.urljoin(self.client.base + "/", loc),
                                        scope=scope, ok=(204, 200, 404, 405)).close()
                except RegistryError:
                    pass
        return resp.status == 201

    def _start(self, repo: str, scope: str) -> str:
        resp = self.client.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope,
                                   headers={"Content-Length": "0"}, ok=(202,),
                                   what=f"starting an upload to {repo}")
        resp.close()
        loc = resp.header("location")
        if not loc:
            raise RegistryError(f"registry {self.client.registry}: upload started without a Location")
        return urllib.parse.urljoin(self.client.base + "/", loc)

    def _upload(self, repo: str, scope: str, digest: str, size: int, short: str, *,
                path: str | None = None, data: bytes | None = None) -> None:
        what = f"uploading {digest[:19]} to {repo}"
        if data is not None or size <= self.chunk:
            loc = self._start(repo, scope)
            body = data if data is not None else open(path, "rb")
            try:
                resp = self.client.request("PUT", _with_digest(loc, digest), scope=scope, body=body,
                                           headers={"Content-Type": "application/octet-stream",
                                                    "Content-Length": str(size)}, ok=(201,), what=what)
                resp.close()
            finally:
                if data is None:
                    body.close()
            return
        session = self.blobs.upload_session(digest, f"{self.client.registry}/{repo}")
        loc, sent = self._resume(session.location, scope) if session.location else (None, 0)
        if loc is None:
            loc, sent = self._start(repo, scope), 0
        elif sent:
            self.progress({"id": short, "status": f"Resuming at {sent} bytes"})
        retries = 0
        with open(path, "rb") as f:
            while sent < size:
                f.seek(sent)
                block = f.read(self.chunk)
                try:
                    resp = self.client.request("PATCH", loc, scope=scope, body=block, ok=(202,), what=what,
                                               headers={"Content-Type": "application/octet-stream",
                                                        "Content-Length": str(len(block)),
                                                        "Content-Range": f"{sent}-{sent + len(block) - 1}"})
                except Unreachable as e:
                    # Ask the session where it stands. Docker's registry cancels a
                    # session that holds part of the broken chunk (its state token
                    # names an older offset): then a new upload from the start.
                    retries += 1
                    if retries > RETRIES:
                        raise RegistryError(f"{what}: the upload broke off {retries} times: {e}",
                                            hint="push again: it continues where the registry stopped") from None
                    loc, sent = self._resume(loc, scope)
                    if loc is None:
                        loc, sent = self._start(repo, scope), 0
                    session.save(loc)
                    self.progress({"id": short, "status": f"Retrying from {sent} bytes"})
                    continue
                resp.close()
                sent += len(block)
                loc = urllib.parse.urljoin(loc, resp.header("location") or loc)
                session.save(loc)
                self.progress({"id": short, "status": "Pushing", "current": sent, "total": size})
        resp = self.client.request("PUT", _with_digest(loc, digest), scope=scope, body=b"",
                                   headers={"Content-Length": "0"}, ok=(201,), what=what)
        resp.close()
        session.forget()

    def _resume(self, loc: str, scope: str) -> tuple[str | None, int]:
        """(upload URL, bytes the registry holds) of an upload session, from
        GET on its URL (204 with `Range: 0-<last>`), or (None, 0) when the
        registry no longer knows it or does not say."""
        try:
            resp = self.client.request("GET", loc, scope=scope, ok=(204, 200, 400, 404, 416),
                                       what="asking how far an upload got")
        except RegistryError:
            return None, 0
        resp.close()
        rng = resp.header("range")
        if resp.status not in (200, 204) or not rng:
            return None, 0
        try:
            # Docker's registry says "0-0" for an empty session too; a
            # session holding one byte is sent that byte again: not chunked.
            held = int(rng.split("-")[-1]) + 1 if rng != "0-0" else 0
        except ValueError:
            return None, 0
        return urllib.parse.urljoin(loc, resp.header("location") or loc), held
