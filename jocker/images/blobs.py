"""Content-addressed blobs kept beside the layers: the compressed (or plain)
layer tar a pulled or loaded layer came from, and the gzip blob made the first
time a local layer is pushed. Keeping them makes a layer's digest stable
across push, pull and save (a tree rewritten into a new tar would not be the
same bytes) and lets a second push skip the compression.

    <mountpoint>/blobs/sha256/<hex>

A layer records its blobs in `jocker:layer.blob`: entries "<mediaType>
<digest> <size> <diff ID of the uncompressed tar>" joined by ",", the one it
came with (or the first one made) first, then the same tar in other
compressions made by later pushes (one per compression: a zstd push of a
gzip layer adds a zstd blob). A property of one entry (what jocker wrote
before) is a list of one. A blob no layer records is garbage (`prune`). Every write goes to a
temporary file, is verified against the expected digest, and is renamed into
place, so a killed pull leaves only `.tmp-<pid>-*` files that `prune`
removes once that process is gone. A pull holds a lease (leases.py) on the
blobs it fetched until their layers record them.

Downloads write `.partial-<hex>` instead (`resumable()`), locked while a
process writes it: an interrupted download leaves it, and the next pull of
that blob continues from its end with an HTTP Range request. `prune` keeps
a partial blob while a pull leases its digest or for PARTIAL_TTL after its
last write, then removes it. A chunked push records its upload session's URL
in `.upload-<hex>-<target>` the same way (`upload_session()`), so that a push
after a killed one can continue the session.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from ..errors import JockerError
from ..names import DIGEST_RE
from ..storage.base import Dataset
from .state import txn_alive

PROP = "jocker:layer.blob"
# RFC 6838's restricted-name characters: what a descriptor's mediaType may
# hold before it goes into PROP (whose list is split on commas and spaces).
_MEDIA_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-")


def valid_media_type(text: str) -> bool:
    kind, slash, sub = text.partition("/")
    return bool(slash and kind and sub and len(text) <= 255 and
                set(kind) <= _MEDIA_TYPE_CHARS and set(sub) <= _MEDIA_TYPE_CHARS)
SOURCE_PROP = "jocker:layer.source"   # "<registry>/<repository>" known to hold the blob
CHUNK = 1 << 20
PARTIAL = ".partial-"
UPLOAD = ".upload-"
PARTIAL_TTL = 24 * 3600         # seconds an interrupted download waits to be resumed


class DigestMismatch(JockerError):
    """Content that does not hash to the digest that names it."""


SEP = ","


@dataclass(frozen=True)
class BlobRef:
    media_type: str
    digest: str
    size: int
    diff_id: str = ""       # sha256 of the uncompressed tar, when known

    def encode(self) -> str:
        return f"{self.media_type} {self.digest} {self.size}" + (f" {self.diff_id}" if self.diff_id else "")

    @classmethod
    def decode(cls, text: str) -> "BlobRef | None":
        parts = text.split()
        if len(parts) not in (3, 4) or not DIGEST_RE.match(parts[1]) or not parts[2].isdigit():
            return None
        diff_id = parts[3] if len(parts) == 4 and DIGEST_RE.match(parts[3]) else ""
        return cls(parts[0], parts[1], int(parts[2]), diff_id)

    @property
    def compression(self) -> str:
        """gzip, zstd or none, as the media type says (OCI `+gzip`, Docker `.gzip`)."""
        for name in ("gzip", "zstd"):
            if self.media_type.endswith(("+" + name, "." + name)):
                return name
        return "none"

    @classmethod
    def of(cls, ds: Dataset) -> "BlobRef | None":
        """The layer's first blob (the one it came with)."""
        refs = cls.all_of(ds)
        return refs[0] if refs else None

    @classmethod
    def all_of(cls, ds: Dataset) -> "list[BlobRef]":
        """Every blob the layer records, the first one first."""
        refs = (cls.decode(part) for part in ds.get(PROP, "").split(SEP))
        return [r for r in refs if r is not None]


def encode_all(refs: "list[BlobRef]") -> str:
    return SEP.join(r.encode() for r in refs)


class BlobStore:
    def __init__(self, mountpoint: str):
        self.dir = os.path.join(mountpoint, "blobs", "sha256")

    def path(self, digest: str) -> str:
        if not DIGEST_RE.match(digest):
            raise JockerError(f"invalid digest {digest!r}")
        return os.path.join(self.dir, digest[7:])

    def has(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    @contextmanager
    def writer(self):
        """A temporary file to write a blob into; call .commit(digest) on the
        yielded object to verify and keep it; anything else removes it."""
        os.makedirs(self.dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=self.dir)
        w = _BlobWriter(self, os.fdopen(fd, "wb"), tmp)
        try:
            yield w
        finally:
            w.f.close()
            if os.path.exists(tmp):
                os.unlink(tmp)

    @contextmanager
    def resumable(self, digest: str):
        """A writer for `digest` that continues what an interrupted download
        left in `.partial-<hex>` (its .size says where to resume; .restart()
        starts over). Left in place on failure, renamed on commit. When another
        process is writing the same partial blob, a plain temporary writer."""
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, PARTIAL + self.path(digest)[len(self.dir) + 1:])
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                with self.writer() as w:
                    yield w
                return
            # Locked, but is it still the file at that path? The holder we
            # waited for may have committed (renamed) or removed it since.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        w = _BlobWriter(self, os.fdopen(fd, "r+b"), path)
        try:
            while True:
                data = w.f.read(CHUNK)
                if not data:
                    break
                w.sha.update(data)
                w.size += len(data)
            yield w
        except DigestMismatch:
            _unlink(path)               # complete but wrong: nothing to resume
            raise
        finally:
            w.f.close()

    def upload_session(self, digest: str, target: str) -> "UploadSession":
        """The upload session URL kept for pushing `digest` to `target`
        ("<registry>/<repository>")."""
        os.makedirs(self.dir, exist_ok=True)
        tag = hashlib.sha256(target.encode()).hexdigest()[:16]
        return UploadSession(os.path.join(self.dir, f"{UPLOAD}{self.path(digest)[len(self.dir) + 1:]}-{tag}"))

    def ingest(self, src: IO[bytes], digest: str, *, what: str = "blob",
               limit: int | None = None) -> str:
        """Copy src into the store, verifying digest. Returns the path."""
        if self.has(digest):
            return self.path(digest)
        with self.writer() as w:
            while True:
                data = src.read(CHUNK)
                if not data:
                    break
                w.write(data)
                if limit is not None and w.size > limit:
                    raise DigestMismatch(f"{what}: more data than the {limit} bytes announced")
            return w.commit(digest, what=what)

    def prune(self, keep: set[str]) -> list[str]:
        """Remove blobs not in keep (digests) and leftover temporary files."""
        removed = []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return removed
        for name in names:
            if name.startswith(".tmp-"):
                pid = name.split("-")[1]
                if pid.isdigit() and txn_alive(pid):
                    continue            # a download in progress
            elif name.startswith((PARTIAL, UPLOAD)):
                if "sha256:" + name[len(PARTIAL):] in keep or _younger(os.path.join(self.dir, name)):
                    continue            # being transferred, or waiting to be resumed
            elif "sha256:" + name in keep:
                continue
            try:
                os.unlink(os.path.join(self.dir, name))
                removed.append(name)
            except OSError:
                pass
        return removed


class _BlobWriter:
    def __init__(self, store: BlobStore, f, tmp: str):
        self.store, self.f, self.tmp = store, f, tmp
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)

    def tell(self) -> int:
        return self.size

    def restart(self) -> None:
        """Drop what was written (the server will send the whole blob)."""
        self.f.seek(0)
        self.f.truncate()
        self.sha = hashlib.sha256()
        self.size = 0

    def flush(self) -> None:
        self.f.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()

    def commit(self, expected: str | None = None, *, what: str = "blob") -> str:
        # The file stays open (a partial blob's lock with it) until renamed:
        # the caller's context closes it, after removing it on a mismatch.
        self.f.flush()
        got = self.digest
        if expected is not None and got != expected:
            raise DigestMismatch(f"{what}: digest mismatch: expected {expected}, got {got}",
                                 hint="the data is corrupt or was truncated; retry")
        dest = self.store.path(got)
        os.replace(self.tmp, dest)
        self.f.close()
        return dest


class UploadSession:
    def __init__(self, path: str):
        self.path = path
        try:
            with open(path) as f:
                self.location = f.read().strip()
        except OSError:
            self.location = ""

    def save(self, location: str) -> None:
        with open(self.path + ".tmp", "w") as f:
            f.write(location)
        os.replace(self.path + ".tmp", self.path)
        self.location = location

    def forget(self) -> None:
        _unlink(self.path)
        self.location = ""


def _younger(path: str) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < PARTIAL_TTL
    except FileNotFoundError:
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def referenced(datasets) -> set[str]:
    """Digests every layer dataset records."""
    return {ref.digest for ds in datasets for ref in BlobRef.all_of(ds)}
