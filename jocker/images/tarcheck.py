"""Reading a layer or rootfs tarball before anything touches ZFS.

One streaming pass decompresses (gzip, bzip2, xz: FreeBSD's base.txz is xz;
zstd through the host's `zstd`),
computes the diff ID (sha256 of the uncompressed tar, as OCI defines it) and
refuses archives that could write outside their root: absolute or `..`
names, entries below a symlink the archive itself created, hard links that
escape. A truncated or corrupt archive fails here, so no dataset is created.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import posixpath
import tarfile
from dataclasses import dataclass

from ..errors import UsageError
from .layertar import HashingReader

BLOCK = 1 << 20


@dataclass
class TarScan:
    diff_id: str           # sha256:<hex> of the uncompressed stream
    size: int              # uncompressed bytes
    members: int
    compression: str       # none | gzip | bzip2 | xz | zstd


def sniff(path: str) -> str:
    from .decompress import sniff as sniff_head
    with open(path, "rb") as f:
        return sniff_head(f.read(8))


def open_plain(path: str, compression: str, runner=None):
    """The uncompressed archive as a stream, in a `with` block: Python's
    codecs, or for zstd the host's `zstd` (decompress.py) through runner."""
    if compression == "zstd":
        from ..host.runner import default_runner
        from .decompress import open_layer
        return open_layer(runner or default_runner(), path, f"archive {path}")
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bzip2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def normalize_member(name: str) -> str:
    """The member's path relative to the root, or raise if it escapes."""
    stripped = name.lstrip("/")
    while stripped.startswith("./"):
        stripped = stripped[2:]
    parts = [p for p in stripped.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError(f"member {name!r} has a '..' component")
    return "/".join(parts)


def _check_member(member: tarfile.TarInfo, symlinks: set[str]) -> None:
    rel = normalize_member(member.name)
    parent = posixpath.dirname(rel)
    while parent:
        if parent in symlinks:
            raise ValueError(f"member {member.name!r} would be written through the symlink {parent!r}")
        parent = posixpath.dirname(parent)
    if member.issym():
        symlinks.add(rel)
    else:
        symlinks.discard(rel)
    if member.islnk():
        normalize_member(member.linkname)   # hard links must stay inside the archive
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()
            or member.ischr() or member.isblk() or member.isfifo()):
        raise ValueError(f"member {member.name!r} has an unsupported type")


def scan(path: str, runner=None) -> TarScan:
    """Validate and hash a (possibly compressed) tarball. Raises UsageError
    (or, for a corrupt zstd stream, decompress.CorruptBlob)."""
    compression = sniff(path)
    symlinks: set[str] = set()
    count = 0
    try:
        with open_plain(path, compression, runner) as plain:
            hashing = HashingReader(plain)
            with tarfile.open(fileobj=hashing, mode="r|") as tar:   # type: ignore[arg-type]
                for member in tar:
                    _check_member(member, symlinks)
                    count += 1
            hashing.drain()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, ValueError) as e:
        raise UsageError(f"invalid archive {path}: {e or type(e).__name__}",
                         hint="the file is truncated, corrupt or not a tar archive") from None
    if count == 0:
        raise UsageError(f"invalid archive {path}: it contains no files")
    return TarScan("sha256:" + hashing.sha.hexdigest(), hashing.size, count, compression)
