"""`jocker save` and `jocker load`: image archives.

save writes one tar that is both forms at once, as Docker 25+ does: an OCI
image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) and the
docker-archive files (`manifest.json`, `repositories`) pointing at the same
blobs. Several images share their common layers; layers are the blobs jocker
keeps (gzip for what it built), which `docker load`, `podman load` and
`skopeo` all read.

load reads either form (docker-archive when `manifest.json` is there, else
the OCI layout's `index.json`, nested indexes resolved to the host's
platform), plain or compressed (gzip, xz: FreeBSD's OCI image `.txz` files
load as they are), from a file or a stream. Every blob is verified against
its digest (an OCI layout) and every layer against its diff ID, and the
images appear only once all their layers are in place.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
import zlib
import lzma

from .. import scratch
from ..errors import JockerError, UsageError
from ..images.blobs import BlobStore, DigestMismatch
from ..images.export import MT_OCI_GZIP, MT_OCI_INDEX, MT_OCI_MANIFEST, MT_OCI_TAR, prepare
from ..images.leases import Lease
from ..reference import parse_reference
from .assemble import Target, assemble, present, sha256
from .names import familiar
from .pull import choose, parse_platform


def _tag(name: str) -> str:
    ref = parse_reference(name)
    return familiar(ref.name_tag)

REF_NAME = "org.opencontainers.image.ref.name"
DOCKER_REF = "io.containerd.image.name"
BLOB_LIMIT = 64 << 20        # JSON documents (index, manifest, config) read into memory


class ArchiveError(JockerError):
    pass


# --- save -------------------------------------------------------------------

def save(engine, refs: list[str], out, progress=None) -> None:
    """Write refs (names or IDs) as one archive to the binary stream out."""
    if not refs:
        raise UsageError("save needs at least one image", hint="jocker save -o FILE IMAGE...")
    st = engine.load_state()
    blobs = BlobStore(engine.layout.mountpoint)
    chosen = []
    for ref in refs:
        img = st.resolve(ref)
        by_name = [t for t in (ref, f"{ref}:latest") if t in st.live_tags(img)]
        chosen.append((img, by_name[:1]))       # saved by ID: no name, as Docker does
    now = time.time()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()

        def blob(digest: str, data: bytes | None = None) -> str:
            name = f"blobs/sha256/{digest[7:]}"
            if digest in written:
                return name
            written.add(digest)
            info = tarfile.TarInfo(name)
            info.mtime = int(now)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                path = blobs.path(digest)
                info.size = os.path.getsize(path)
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            return name

        def small(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(now)
            tar.addfile(info, io.BytesIO(data))

        small("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        index, docker_manifest, repositories = [], [], {}
        for img, tags in chosen:
            exp = prepare(engine.store, engine.load_state(), img, blobs, progress, runner=engine.runner)
            layer_paths = [blob(lay.blob.digest) for lay in exp.layers]
            config_path = blob(exp.config_digest, exp.config)
            manifest = exp.manifest()
            mdigest = sha256(manifest)
            blob(mdigest, manifest)
            for t in tags or [None]:
                desc = {"mediaType": MT_OCI_MANIFEST, "digest": mdigest, "size": len(manifest)}
                if t:
                    desc["annotations"] = {DOCKER_REF: t, REF_NAME: t.rsplit(":", 1)[1]}
                index.append(desc)
            docker_manifest.append({"Config": config_path, "RepoTags": tags, "Layers": layer_paths})
            for t in tags:
                repo, _, tag = t.rpartition(":")
                repositories.setdefault(repo, {})[tag] = exp.layers[-1].diff_id[7:] if exp.layers else ""
            if progress:
                progress({"status": f"Saved {' '.join(tags) or img.short}"})
        small("index.json", json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                                        "manifests": index}, separators=(",", ":")).encode())
        small("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
        small("repositories", json.dumps(repositories, separators=(",", ":")).encode())


def save_to_file(engine, refs: list[str], path: str) -> None:
    """save into path, which appears only complete (written beside, renamed)."""
    from ..atomic import write_stream_atomic
    write_stream_atomic(path, lambda f: save(engine, refs, f))


# --- load -------------------------------------------------------------------

def _unpack(stream, dest: str) -> None:
    """Regular files and directories of the archive under dest; nothing else,
    nothing outside. A symlink member (moby's tarexport links a layer.tar to
    the first saved copy of the same diff ID) becomes a hard link to the
    regular file it names inside the archive."""
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for m in tar:
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if not parts or m.name.startswith("/") or ".." in parts:
                    if parts:
                        raise ArchiveError(f"archive member {m.name!r} escapes the archive")
                    continue
                path = os.path.join(dest, *parts)
                if m.isdir():
                    os.makedirs(path, exist_ok=True)
                elif m.isreg():
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        shutil.copyfileobj(tar.extractfile(m), f, 1 << 20)
                elif m.issym():
                    links["/".join(parts)] = m.linkname
        for name, target in links.items():
            _link_member(dest, name, target, links)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
        raise ArchiveError(f"invalid or truncated image archive: {e or type(e).__name__}",
                           hint="the archive is damaged; create it again") from None


class _Prefixed:
    """A read-only stream: bytes already read from the front, then the rest."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.rest.read(n)


def _unpack_any(engine, stream, dest: str) -> None:
    """_unpack, for plain, gzip, bzip2 and xz archives as they stream in, and
    for zstd ones (`docker save | zstd`) spooled, then read through the
    host's `zstd` (images/decompress.py)."""
    from ..images.decompress import ZSTD, open_layer, sniff
    head = stream.read(8)
    if sniff(head) != ZSTD:
        _unpack(_Prefixed(head, stream), dest)
        return
    with tempfile.NamedTemporaryFile(prefix="load-", suffix=".zst", dir=engine.layout.tmpdir) as spool:
        spool.write(head)
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.flush()
        with open_layer(engine.runner, spool.name, "image archive") as plain:
            _unpack(plain, dest)


def _link_member(dest: str, name: str, target: str, links: dict[str, str]) -> None:
    """Hard-link archive member `name` to the regular file its symlink names,
    resolved relative to the member and only inside the archive (chains of
    member symlinks followed, at most 40)."""
    seen = name
    for _ in range(40):
        if target.startswith("/"):
            break
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(seen), target))
        if rel == ".." or rel.startswith("../"):
            break
        if rel in links:
            seen, target = rel, links[rel]
            continue
        src = os.path.join(dest, *rel.split("/"))
        if not os.path.isfile(src) or os.path.islink(src):
            return          # a dangling link: what needs it reports it missing
        path = os.path.join(dest, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.link(src, path, follow_symlinks=False)
        return
    else:
        raise ArchiveError(f"archive member {name!r}: too many levels of symbolic links",
                           hint="the archive is damaged; create it again")
    raise ArchiveError(f"archive member {name!r} is a symlink to {target!r}, outside the archive",
                       hint="only links between members of the archive are allowed")


def _read(root: str, rel: str, what: str, limit: int = BLOB_LIMIT) -> bytes:
    path = os.path.join(root, *[p for p in rel.split("/") if p not in ("", ".", "..")])
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        raise ArchiveError(f"{what}: {rel} is missing from the archive") from None
    if len(data) > limit:
        raise ArchiveError(f"{what}: {rel} is larger than {limit} bytes")
    return data


def _json(data: bytes, what: str):
    try:
        return json.loads(data)
    except ValueError:
        raise ArchiveError(f"{what}: not valid JSON") from None


def _docker_targets(root: str) -> list[tuple[Target, list[str]]]:
    out = []
    for i, entry in enumerate(_json(_read(root, "manifest.json", "manifest.json"), "manifest.json")):
        tags = [_tag(t) for t in entry.get("RepoTags") or []]
        what = f"image {tags[0] if tags else '#' + str(i + 1)}"
        raw = _read(root, entry["Config"], what)
        config = _json(raw, f"{what}: config")
        files = list(entry.get("Layers") or [])
        out.append((Target(what, raw, config, [{"mediaType": "", "digest": "", "size": 0, "path": p}
                                                 for p in files], tags, []), files))
    return out


def _oci_targets(root: str, platform) -> list[tuple[Target, list[str]]]:
    index = _json(_read(root, "index.json", "index.json"), "index.json")
    out = []

    def blob(digest: str, what: str) -> bytes:
        data = _read(root, f"blobs/sha256/{digest[7:]}", what)
        if sha256(data) != digest:
            raise DigestMismatch(f"{what}: digest mismatch for {digest}")
        return data

    for desc in index.get("manifests") or []:
        ann = desc.get("annotations") or {}
        name = ann.get(DOCKER_REF) or ann.get(REF_NAME) or ""
        if name and ":" not in name.rsplit("/", 1)[-1]:
            name = f"localhost/image:{name}" if "/" not in name else name + ":latest"
        tags = [_tag(name)] if name else []
        what = f"image {name or desc['digest'][:19]}"
        doc = _json(blob(desc["digest"], what), what)
        while "manifests" in doc:           # an index: the host's platform
            sub = choose(doc, platform, what)
            doc = _json(blob(sub["digest"], what), what)
        raw = blob(doc["config"]["digest"], f"{what}: config")
        layers = [dict(lay, path=f"blobs/sha256/{lay['digest'][7:]}") for lay in doc.get("layers") or []]
        out.append((Target(what, raw, _json(raw, what), layers, tags, []), [l["path"] for l in layers]))
    return out


def load(engine, stream, *, platform: str | None = None, progress=None) -> list[str]:
    """Load every image of the archive read from stream. Returns the
    `Loaded image: NAME` / `Loaded image ID: ID` lines Docker prints."""
    progress = progress or (lambda event: None)
    engine.load_state()
    scratch.private_dir(engine.layout.tmpdir)
    blobs = BlobStore(engine.layout.mountpoint)
    lines = []
    with tempfile.TemporaryDirectory(prefix="load-", dir=engine.layout.tmpdir) as root, \
            Lease(engine.layout.rundir) as lease:
        _unpack_any(engine, stream, root)
        if os.path.exists(os.path.join(root, "manifest.json")):
            targets = _docker_targets(root)
        elif os.path.exists(os.path.join(root, "index.json")):
            targets = _oci_targets(root, parse_platform(platform))
        else:
            raise ArchiveError("not an image archive: it has neither manifest.json (docker-archive) "
                               "nor index.json (OCI layout)", hint="for a root file system use jocker import")
        for target, files in targets:
            if len(files) != len(target.diff_ids):
                raise ArchiveError(f"{target.what}: {len(files)} layers but {len(target.diff_ids)} "
                                   "diff IDs in its config")
            have = present(engine, target.diff_ids)
            for i, desc in enumerate(target.layers[len(have):], len(have)):
                path = os.path.join(root, *[p for p in desc.pop("path").split("/") if p not in ("..", ".")])
                if not os.path.isfile(path):
                    raise ArchiveError(f"{target.layer_what(i)}: {files[i]} is missing from the archive")
                with open(path, "rb") as f:
                    gz = f.read(2) == b"\x1f\x8b"
                    f.seek(0)
                    with blobs.writer() as w:
                        shutil.copyfileobj(f, w, 1 << 20)
                        with engine.lock.held():      # leased before prune_blobs can look
                            w.commit(desc["digest"] or None, what=target.layer_what(i))
                            lease.add(w.digest)
                        desc["digest"], desc["size"] = w.digest, w.size
                desc["mediaType"] = desc["mediaType"] or (MT_OCI_GZIP if gz else MT_OCI_TAR)
            img = assemble(engine, blobs, target, have, progress)
            lines += [f"Loaded image: {t}" for t in target.tags] or [f"Loaded image ID: {img.id}"]
    return lines
