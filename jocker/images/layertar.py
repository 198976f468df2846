"""One layer identity: the OCI layer tar.

A layer's diff ID is the sha256 of its uncompressed OCI layer tar, for every
layer jocker makes (build, commit, import) and every layer it receives (pull,
load). This module is the one place that writes such tars from the difference
between a layer and its parent, and applies them onto a clone.

Writing is deterministic, so the same content always gives the same bytes and
the same diff ID: entries sorted by path, numeric owners (no user or group
names), whole-second mtimes clamped to SOURCE_DATE_EPOCH when given, no atime
or ctime, no GNU sparse entries, deletions as explicit `.wh.` whiteouts, hard
links inside the layer as tar links to the first path, and the archive ends
with the two zero blocks only (no padding to a 10 KiB record), as Docker's
layers do: the empty layer is sha256:5f70bf18....

Applying refuses names with `..` or a leading `/`, resolves every parent
chroot-style inside the root (jocker/rootfs.py), refuses hard links whose target
is not a regular file inside the root, and refuses device nodes unless root.
Whiteouts remove lower-layer files; an opaque directory (`.wh..wh..opq`)
hides every lower-layer child whatever its position in the stream. On
FreeBSD, BSD file flags (schg, uchg...) are written as pax `SCHILY.fflags`,
cleared before a file is replaced or removed, and set from the tar after
everything else [U: needs a FreeBSD host to confirm with real flags].
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import queue
import shutil
import stat
import sys
import tarfile
import threading
from typing import IO

from ..rootfs import _Writer, _lstat, resolve_in_root
from ..errors import JockerError
from .treediff import DELETED, Change, _open_parent, _DIR_FLAGS

WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
BLOCK = 1 << 20
EMPTY_TAR = b"\0" * 1024
EMPTY_DIFF_ID = "sha256:" + hashlib.sha256(EMPTY_TAR).hexdigest()
# What build steps leave out of a layer (the runtime's mount points); base
# layers (import) keep everything.
BUILD_SKIP = ("/dev", "/proc")
# The diff ID of the shared empty layer that scratch images without files sit
# on; it is in no config's diff_ids.
EMPTY_ANCHOR = "sha256:" + hashlib.sha256(b"").hexdigest()
HAS_FILE_FLAGS = sys.platform.startswith("freebsd")


class LayerError(JockerError):
    """A layer tar that cannot be applied safely (names the member)."""


class HashingWriter:
    """A write-only sink that hashes and counts what passes, optionally
    forwarding it to `out` (None: hash only)."""

    def __init__(self, out: IO[bytes] | None = None):
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self.out is not None:
            self.out.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class HashingReader:
    """A read-only wrapper that hashes everything read through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(BLOCK):
            pass

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class ReadAhead(HashingReader):
    """HashingReader with the reading and hashing on a worker thread: up to
    `depth` BLOCK-sized chunks of `raw` (a decompressing stream) are read and
    hashed ahead while the caller parses the tar and writes files. zlib,
    lzma, a pipe read and sha256 all release the GIL, so decompressing and
    hashing layer i overlap its file writes instead of adding to them.

    For sources that always reach their end (a file, a decompressor reading
    a file): close() waits for the worker's current read. A failure in the
    worker is raised by the read that reaches it, as HashingReader would."""

    def __init__(self, raw: IO[bytes], depth: int = 8):
        super().__init__(raw)
        self.queue: queue.Queue = queue.Queue(depth)
        self.stopping = threading.Event()
        self.buf = b""
        self.ended = False
        self.worker = threading.Thread(target=self._fill, name="read-ahead", daemon=True)
        self.worker.start()

    def _fill(self) -> None:
        try:
            while not self.stopping.is_set():
                data = self.raw.read(BLOCK)
                self.sha.update(data)
                self.size += len(data)
                self._put(data)
                if not data:
                    return
        except BaseException as e:          # handed over to the reader
            self._put(e)

    def _put(self, item) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(BLOCK), b""))
        if not self.buf and not self.ended:
            item = self.queue.get()
            if isinstance(item, BaseException):
                self.ended = True
                raise item
            if not item:
                self.ended = True
            self.buf = item
        data, self.buf = (self.buf, b"") if len(self.buf) <= n else (self.buf[:n], self.buf[n:])
        return data

    def close(self) -> None:
        self.stopping.set()
        self.worker.join()


# BSD file flags as libarchive names them in pax `SCHILY.fflags` [U: the
# names and their round trip through podman/bsdtar need a FreeBSD host].
FFLAGS = {"schg": stat.SF_IMMUTABLE, "sappnd": stat.SF_APPEND, "sunlnk": stat.SF_NOUNLINK,
          "arch": stat.SF_ARCHIVED, "uchg": stat.UF_IMMUTABLE, "uappnd": stat.UF_APPEND,
          "uunlnk": stat.UF_NOUNLINK, "nodump": stat.UF_NODUMP, "opaque": stat.UF_OPAQUE}
FFLAGS_KEY = "SCHILY.fflags"


def fflags_text(bits: int) -> str:
    return ",".join(name for name, bit in sorted(FFLAGS.items()) if bits & bit)


def fflags_bits(text: str) -> int:
    return sum(FFLAGS.get(name.strip(), 0) for name in text.split(","))


def source_date_epoch(environ=None) -> int | None:
    env = os.environ if environ is None else environ
    value = env.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.strip().isdigit() else None


# --- writing ------------------------------------------------------------------

def _info(name: str, st: os.stat_result, epoch: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    mtime = int(st.st_mtime)
    info.mtime = min(mtime, epoch) if epoch is not None else mtime
    flags = st.st_flags if HAS_FILE_FLAGS else 0        # st_flags exists on BSD only
    if flags and fflags_text(flags):
        info.pax_headers = {FFLAGS_KEY: fflags_text(flags)}
    return info


def write_layer(root: str, changes: list[Change], out: IO[bytes] | None = None, *,
                epoch: int | None = None) -> tuple[str, int]:
    """Write the layer tar of `changes` (read from `root`, the layer's files)
    to `out` (None: only hash). Returns (diff ID, uncompressed size)."""
    sink = HashingWriter(out)
    tar = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT)  # type: ignore[arg-type]
    root_fd = os.open(root, _DIR_FLAGS)
    first: dict[int, str] = {}
    try:
        for c in sorted(changes, key=lambda c: c.path):
            rel = c.path.lstrip("/")
            if c.kind == DELETED:
                d, base = posixpath.split(rel)
                info = tarfile.TarInfo(posixpath.join(d, WH_PREFIX + base))
                info.mtime = epoch if epoch is not None else 0
                info.uname = info.gname = ""
                tar.addfile(info)
                continue
            parent, name = _open_parent(root_fd, c.path)
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                info = _info(rel, st, epoch)
                if stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif stat.S_ISLNK(st.st_mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = os.readlink(name, dir_fd=parent)
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    if st.st_nlink > 1 and st.st_ino in first:
                        info.type = tarfile.LNKTYPE
                        info.linkname = first[st.st_ino]
                        tar.addfile(info)
                        continue
                    if st.st_nlink > 1:
                        first[st.st_ino] = rel
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                    with os.fdopen(fd, "rb") as f:
                        info.size = os.fstat(f.fileno()).st_size
                        tar.addfile(info, f)
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                    info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                    tar.addfile(info)
                elif stat.S_ISFIFO(st.st_mode):
                    info.type = tarfile.FIFOTYPE
                    tar.addfile(info)
                # sockets are not archived (tar(1) skips them too)
            finally:
                os.close(parent)
    finally:
        os.close(root_fd)
    # End of archive: two zero blocks, no padding to tarfile's 10 KiB record.
    sink.write(EMPTY_TAR)
    tar.closed = True
    return sink.digest(), sink.size


EPOCH_PROP = "jocker:layer.epoch"
# Set on layers whose diff ID is the tar written from their tree (build,
# commit, import): `image send` need not recompute it.
TREE_PROP = "jocker:layer.tree"


def seal_diff_id(zfs, pending, changes: list[Change]) -> str:
    """The diff ID of a new layer (build step, commit), with mtimes clamped to
    SOURCE_DATE_EPOCH when set; the clamp is recorded on the layer so the tar
    written later for push or save is the same bytes."""
    epoch = source_date_epoch()
    zfs.set_props(pending.dataset, {TREE_PROP: "1", **({EPOCH_PROP: str(epoch)} if epoch is not None else {})})
    return write_layer(pending.path, changes, epoch=epoch)[0]


def tree_changes(parent_root: str | None, root: str, since: float = 0.0, skip=()) -> list[Change]:
    """The changes of a layer against its parent tree (None: a base layer)."""
    from .treediff import diff_trees
    if parent_root is None:
        import tempfile
        with tempfile.TemporaryDirectory(prefix="empty-") as empty:
            return diff_trees(empty, root, 0.0, skip)
    return diff_trees(parent_root, root, since, skip)


# --- applying -----------------------------------------------------------------

def _clear_flags(path: str) -> None:
    """BSD file flags (schg, uchg, ...) would make unlink fail: clear them,
    recursively for a directory. A no-op where the OS has none."""
    if not HAS_FILE_FLAGS:
        return
    lchflags = os.lchflags            # FreeBSD only; guarded by HAS_FILE_FLAGS
    try:
        lchflags(path, 0)
    except OSError:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                try:
                    lchflags(os.path.join(dirpath, n), 0)
                except OSError:
                    pass


def _remove_path(host: str) -> None:
    try:
        st = os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        return
    _clear_flags(host)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(host)
    else:
        os.unlink(host)


class _Applier:
    def __init__(self, root: str, what: str):
        self.root = os.path.realpath(root)
        self.what = what
        self.is_root = os.geteuid() == 0
        self.writer = _Writer(self.root, owner=None, chmod=None, strict=False, err=LayerError,
                              keep_owner=self.is_root)
        self.created: set[str] = set()       # paths this layer wrote
        self.flags: list[tuple[str, int]] = []   # set last: schg would block the rest
        self.opaque_done: set[str] = set()

    def fail(self, member: str, why: str) -> LayerError:
        return LayerError(f"{self.what}: member {member!r}: {why}")

    def parts(self, name: str) -> list[str]:
        if name.startswith("/"):
            raise self.fail(name, "absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.fail(name, "'..' component escapes the root")
        return parts

    def host_parent(self, parts: list[str]) -> str:
        d = "/" + "/".join(parts[:-1])
        return self.writer.ensure_dir(d) if len(parts) > 1 else self.root

    def opaque(self, dpath: str) -> None:
        """Hide every lower-layer child of dpath (keep what this layer wrote)."""
        if dpath in self.opaque_done:
            return
        self.opaque_done.add(dpath)
        host = resolve_in_root(self.root, dpath)
        if not os.path.isdir(host) or os.path.islink(host):
            return
        for n in os.listdir(host):
            if posixpath.join(dpath, n) not in self.created:
                _remove_path(os.path.join(host, n))

    def whiteout(self, member: str, parts: list[str]) -> None:
        base = parts[-1][len(WH_PREFIX):]
        if base in ("", ".", "..") or "/" in base:
            raise self.fail(member, "invalid whiteout")
        dpath = "/" + "/".join(parts[:-1])
        if base == WH_OPAQUE[len(WH_PREFIX):]:
            self.opaque(dpath)
            return
        target = posixpath.join(dpath, base)
        if target in self.created:
            return                   # a whiteout hides lower layers only
        parent = resolve_in_root(self.root, dpath)
        _remove_path(os.path.join(parent, base))

    def entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = self.parts(m.name)
        if not parts:
            return
        if parts[-1].startswith(WH_PREFIX):
            self.whiteout(m.name, parts)
            return
        path = "/" + "/".join(parts)
        parent = self.host_parent(parts)
        host = os.path.join(parent, parts[-1])
        existing = _lstat(host)
        if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
            _remove_path(host)
        elif existing is not None:
            _clear_flags(host)
        mtime = int(m.mtime) * 1_000_000_000
        owner = (m.uid, m.gid)
        if m.isdir():
            self.writer.put_dir(parent, parts[-1], m.mode, mtime, owner)
        elif m.isreg():
            self.writer.put_file(parent, parts[-1], tar.extractfile(m), m.mode, mtime, owner)
        elif m.issym():
            self.writer.put_symlink(parent, parts[-1], m.linkname, mtime, owner)
        elif m.islnk():
            target = "/" + "/".join(self.parts(m.linkname))
            try:
                self.writer.put_hardlink(parent, parts[-1], target)
            except LayerError as e:
                raise self.fail(m.name, f"hard link to {m.linkname!r}: {e.message}") from None
        elif m.ischr() or m.isblk() or m.isfifo():
            if not m.isfifo() and not self.is_root:
                raise self.fail(m.name, "device nodes can only be created as root")
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            os.mknod(host, kind | stat.S_IMODE(m.mode), os.makedev(m.devmajor, m.devminor))
            if self.is_root:
                os.lchown(host, m.uid, m.gid)
            os.utime(host, ns=(mtime, mtime), follow_symlinks=False)
        else:
            raise self.fail(m.name, "unsupported member type")
        self.created.add(path)
        if HAS_FILE_FLAGS and m.pax_headers.get(FFLAGS_KEY):
            self.flags.append((host, fflags_bits(m.pax_headers[FFLAGS_KEY])))


    def set_flags(self) -> None:
        """BSD file flags, last. Only where the parent is still the real
        directory this layer wrote into (reached from root without following
        a symlink), so a later entry that replaced a parent by a link to a
        host path cannot aim lchflags outside the root. [U: FreeBSD only;
        Python has no fchflagsat, so the check and the call are two steps,
        safe because nothing else writes into the clone while it is applied.]"""
        for host, bits in self.flags:
            parent, name = os.path.split(host)
            fd = self.writer.open_dir(parent)
            if fd is None:
                continue
            try:
                real = os.fstat(fd)
                seen = os.lstat(parent)
            finally:
                os.close(fd)
            if (real.st_dev, real.st_ino) == (seen.st_dev, seen.st_ino):
                os.lchflags(host, bits)          # FreeBSD only (HAS_FILE_FLAGS)


def apply_layer(stream: IO[bytes], root: str, *, what: str = "layer",
                read_ahead: bool = False) -> tuple[str, int]:
    """Apply an uncompressed layer tar read from `stream` onto `root` (a clone
    of the parent layer). Returns (diff ID, size) of the bytes read. Raises
    LayerError naming `what` and the member on unsafe or corrupt input.
    read_ahead: read and hash `stream` on a worker thread (ReadAhead); only
    for streams that reach their end on their own (a blob file, not stdin)."""
    reader = ReadAhead(stream) if read_ahead else HashingReader(stream)
    applier = _Applier(root, what)
    try:
        with tarfile.open(fileobj=reader, mode="r|", bufsize=BLOCK) as tar:   # type: ignore[arg-type]
            for m in tar:
                try:
                    applier.entry(tar, m)
                except OSError as e:
                    raise applier.fail(m.name, e.strerror or str(e)) from None
        reader.drain()
    except (tarfile.TarError, EOFError) as e:
        raise LayerError(f"{what}: invalid or truncated tar: {e or type(e).__name__}") from None
    finally:
        if isinstance(reader, ReadAhead):
            reader.close()
    applier.writer.finish()
    applier.set_flags()
    return reader.digest(), reader.size
