"""The build context: what `jocker build` may read, hash and COPY/ADD.

A context is a host directory, an extracted tarball, or (for `build -`) a
Dockerfile from stdin with an empty context. Everything read from it stays
inside its root and honours .dockerignore; everything written into an image
stays inside the image root, with image symlinks resolved as a chroot would.
Only Python is used here (no host commands).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import lzma
import os
import posixpath
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Iterator

from ..errors import BuildError, JockerError, UsageError
from .dockerignore import IgnoreMatcher, clean_path, compile_glob, has_magic

log = logging.getLogger("jocker.build.context")

CHUNK = 1 << 20
MAX_SYMLINKS = 40
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_NOT_FOUND = "file not found in build context or excluded by .dockerignore: stat {}: file does not exist"


@dataclass(frozen=True)
class Source:
    """One resolved COPY/ADD source.

    relpath: the path as matched in the context ("." is the context root);
             its basename names the copy when the destination is a directory.
    path:    the host path, a top-level symlink already followed.
    kind:    "file" or "dir".
    base:    `path` relative to the context root, for .dockerignore checks;
             None for files that do not come from the context (downloads).
    """

    relpath: str
    path: str
    kind: str
    base: str | None = None

    @classmethod
    def external(cls, path: str, name: str | None = None) -> "Source":
        """A file from outside the context (e.g. an ADD download)."""
        kind = "dir" if os.path.isdir(path) else "file"
        return cls(name or os.path.basename(path), os.path.abspath(path), kind, None)


def _join(base: str, rel: str) -> str:
    if not rel:
        return base
    return rel if base in (".", "") else f"{base}/{rel}"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _default_owner() -> tuple[int, int] | None:
    # Docker makes copied files root-owned; only root can do that here.
    return (0, 0) if os.geteuid() == 0 else None


# --- writing inside a root ---------------------------------------------------

def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path of image path `path`, resolving symlinks as if chrooted.

    Absolute link targets restart at `root` and `..` never climbs above it,
    so the result is always `root` or below. Missing components are kept
    as plain names.
    """
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, part)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
            links += 1
            if links > MAX_SYMLINKS:
                raise BuildError(f"too many levels of symbolic links resolving {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        done.append(part)
    return os.path.join(root, *done)


class _Writer:
    """Creates files, directories and links below `root`, never outside it.

    strict=True (context tarballs) refuses to go through any symlink;
    otherwise (image roots) symlinks are resolved chroot-style.
    """

    def __init__(self, root: str, *, owner: tuple[int, int] | None, chmod: int | None,
                 strict: bool, err: type[JockerError], keep_owner: bool = False):
        self.root = os.path.realpath(root)
        self.owner, self.chmod, self.strict, self.err = owner, chmod, strict, err
        self.keep_owner = keep_owner
        self._dirs: list[tuple] = []

    def image_path(self, host: str) -> str:
        rel = os.path.relpath(host, self.root).replace(os.sep, "/")
        return "/" if rel == "." else "/" + rel

    def _strict_path(self, path: str) -> str:
        host = self.root
        for part in (p for p in path.split("/") if p not in ("", ".")):
            host = os.path.join(host, part)
            if os.path.islink(host):
                raise self.err(f"refusing to write {path}: it goes through the symlink "
                               f"{self.image_path(host)}")
        return host

    def ensure_dir(self, path: str, mode: int | None = None, mtime: int | None = None) -> str:
        """Host path of directory `path`, creating missing ones (0755, owned)."""
        host = self._strict_path(path) if self.strict else resolve_in_root(self.root, path)
        missing = []
        cur = host
        while cur != self.root and not os.path.lexists(cur):
            missing.append(cur)
            cur = os.path.dirname(cur)
        if os.path.islink(cur) or not os.path.isdir(cur):
            raise self.err(f"cannot create {path}: {self.image_path(cur)} is not a directory")
        for d in reversed(missing):
            os.mkdir(d, 0o700)
            if d == host and mode is not None:
                self._defer_dir(d, mode, mtime, None)
            else:  # a plain parent: 0755 whatever --chmod says
                self._defer_dir(d, 0o755, None, None, override=False)
        return host

    def _defer_dir(self, host: str, mode: int, mtime: int | None, owner,
                   override: bool = True) -> None:
        # Modes and times of directories are set last: a read-only directory
        # must still accept its children, and writing them bumps its mtime.
        self._dirs.append((host, mode, mtime, owner, override))

    def _clear(self, host: str) -> None:
        """Remove a non-directory at `host` so it can be replaced."""
        st = _lstat(host)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise self.err(f"cannot overwrite directory {self.image_path(host)} with a non-directory")
        os.unlink(host)

    def put_dir(self, parent: str, name: str, mode: int, mtime: int | None,
                owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        st = _lstat(host)
        if st is not None and stat.S_ISLNK(st.st_mode):
            if self.strict:
                raise self.err(f"refusing to replace the symlink {self.image_path(host)} with a directory")
            real = resolve_in_root(self.root, self.image_path(host))
            if os.path.isdir(real):
                host, st = real, os.lstat(real)
            else:
                os.unlink(host)
                st = None
        elif st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(host)
            st = None
        if st is None:
            os.mkdir(host, 0o700)
        self._defer_dir(host, mode, mtime, owner)
        return host

    def put_file(self, parent: str, name: str, src: BinaryIO, mode: int, mtime: int | None,
                 owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        self._clear(host)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        with os.fdopen(os.open(host, flags, 0o600), "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        self._meta(host, mode, mtime, owner)
        return host

    def put_symlink(self, parent: str, name: str, target: str, mtime: int | None,
                    owner: tuple[int, int] | None = None) -> str:
        host = os.path.join(parent, name)
        self._clear(host)
        os.symlink(target, host)
        self._meta(host, None, mtime, owner)
        return host

    def put_hardlink(self, parent: str, name: str, target_path: str) -> str:
        if self.strict:
            target = self._strict_path(target_path)
        else:
            target = resolve_in_root(self.root, target_path, follow_last=False)
        st = _lstat(target)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise self.err(f"hard link target {target_path} is not a regular file in the archive")
        host = os.path.join(parent, name)
        self._clear(host)
        os.link(target, host)
        return host

    def _meta(self, host: str, mode: int | None, mtime: int | None, owner,
              override: bool = True) -> None:
        who = owner if (self.keep_owner and owner is not None) else self.owner
        if who is not None:
            os.lchown(host, *who)  # before chmod: chown clears setuid bits
        if mode is not None:
            if override and self.chmod is not None:
                mode = self.chmod
            os.chmod(host, stat.S_IMODE(mode))
        if mtime is not None:
            if mode is not None:
                os.utime(host, ns=(mtime, mtime))
            elif os.utime in os.supports_follow_symlinks:
                os.utime(host, ns=(mtime, mtime), follow_symlinks=False)

    def finish(self) -> None:
        for host, mode, mtime, owner, override in reversed(self._dirs):
            self._meta(host, mode, mtime, owner, override)
        self._dirs.clear()


def _open_nofollow(path: str) -> BinaryIO:
    # The context may change under us: never read through a swapped-in symlink.
    return os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC), "rb")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


# --- archives ------------------------------------------------------------------

def _member_parts(name: str, err: type[JockerError]) -> list[str]:
    if name.startswith("/"):
        raise err(f"refusing archive member with an absolute path: {name}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise err(f"refusing archive member with a '..' component: {name}")
    return parts


def _extract_tar(fileobj: BinaryIO, writer: _Writer, dest: str) -> None:
    """Extract a (possibly compressed) tar stream into image path `dest`."""
    err = writer.err
    base = writer.ensure_dir(dest)
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for m in tar:
                parts = _member_parts(m.name, err)
                if not parts:
                    continue  # the archive's own "./"
                if not (m.isdir() or m.isreg() or m.issym() or m.islnk()):
                    raise err(f"refusing special file {m.name} in archive "
                              "(device nodes and fifos are not allowed)")
                path = posixpath.join(dest, *parts)
                parent = writer.ensure_dir(posixpath.dirname(path)) if len(parts) > 1 else base
                mtime, owner = int(m.mtime * 1_000_000_000), (m.uid, m.gid)
                if m.isdir():
                    writer.put_dir(parent, parts[-1], m.mode, mtime, owner)
                elif m.isreg():
                    writer.put_file(parent, parts[-1], tar.extractfile(m), m.mode, mtime, owner)
                elif m.issym():
                    writer.put_symlink(parent, parts[-1], m.linkname, mtime, owner)
                else:
                    target = posixpath.join(dest, *_member_parts(m.linkname, err))
                    writer.put_hardlink(parent, parts[-1], target)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise err(f"invalid tar archive: {e}") from e
    writer.finish()


def is_archive(path: str) -> bool:
    """True if `path` holds a tar archive (plain, gzip, bzip2 or xz), by content."""
    try:
        with open(path, "rb") as f:
            with tarfile.open(fileobj=f, mode="r|*") as tar:
                return tar.next() is not None
    except (OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError):
        return False


def _looks_like_archive(head: bytes) -> bool:
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


class _Prefixed(io.RawIOBase):
    """A stream that replays bytes already read, then reads on (for stdin)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[:len(data)] = data
        return len(data)


# --- URLs ------------------------------------------------------------------------

def is_url(src: str) -> bool:
    """Docker treats only http:// and https:// sources as URLs."""
    return src.startswith(("http://", "https://"))


def _download_name(url: str, headers) -> str:
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if not name:
        name = os.path.basename(headers.get_filename() or "")
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise BuildError(f"cannot determine a file name for {url}; name the destination file")
    return name


def download(url: str, dest_dir: str, *, timeout: float = 60.0) -> str:
    """Fetch `url` into `dest_dir` and return the file's path (mode 0600, as Docker)."""
    if not is_url(url):
        raise UsageError(f"not an http or https URL: {url}")
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "jocker"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                name = _download_name(url, resp.headers)
                shutil.copyfileobj(resp, out, CHUNK)
                modified = resp.headers.get("Last-Modified")
        os.chmod(tmp, 0o600)
        if modified:
            try:
                when = parsedate_to_datetime(modified).timestamp()
                os.utime(tmp, (when, when))
            except (TypeError, ValueError, OverflowError):
                pass  # a bad Last-Modified only costs us the mtime
        path = os.path.join(dest_dir, name)
        os.replace(tmp, path)
        return path
    except urllib.error.HTTPError as e:
        raise BuildError(f"failed to download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise BuildError(f"failed to download {url}: {getattr(e, 'reason', e)}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- the hash cache --------------------------------------------------------------

class HashCache:
    """Persistent file-hash cache: (path, size, mtime_ns, inode, ctime_ns) -> sha256.

    Lets a rebuild of an unchanged context skip reading any file content.
    """

    VERSION = 1

    def __init__(self, path: str | None):
        self.path = path
        self._entries: dict[str, list] | None = None
        self._dirty = False

    @staticmethod
    def _key(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            self._entries = {}
            if self.path:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        data = json.load(f)
                    if data.get("version") == self.VERSION and isinstance(data.get("files"), dict):
                        self._entries = data["files"]
                except (OSError, ValueError, AttributeError):
                    pass  # a missing or damaged cache only costs a re-hash
        return self._entries

    def get(self, path: str, st: os.stat_result) -> str | None:
        entry = self._load().get(path)
        if isinstance(entry, list) and entry[:4] == self._key(st):
            return entry[4]
        return None

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        self._load()[path] = self._key(st) + [digest]
        self._dirty = True

    def save(self) -> None:
        if not self.path or not self._dirty:
            return
        entries = {p: e for p, e in self._load().items() if os.path.lexists(p)}
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": self.VERSION, "files": entries}, f)
        os.replace(tmp, self.path)
        self._entries, self._dirty = entries, False


def _cacheable(before: os.stat_result, after: os.stat_result) -> bool:
    if HashCache._key(before) != HashCache._key(after):
        return False  # changed while we read it
    # On file systems with whole-second timestamps a write later in the same
    # second would keep the key: don't trust very young files there.
    newest = max(after.st_mtime_ns, after.st_ctime_ns)
    coarse = after.st_mtime_ns % 1_000_000_000 == 0 and after.st_ctime_ns % 1_000_000_000 == 0
    return not (coarse and time.time_ns() - newest < 2_000_000_000)


# --- the context -----------------------------------------------------------------

class BuildContext:
    """A build context rooted at a host directory."""

    def __init__(self, root: str, *, cache_path: str | None = None,
                 dockerfile: str | None = None, temporary: bool = False):
        if not os.path.isdir(root):
            raise UsageError(f'unable to prepare context: path "{root}" not found')
        self.root = os.path.realpath(root)
        self.ignore = IgnoreMatcher.from_file(os.path.join(self.root, ".dockerignore"))
        self.bytes_hashed = 0
        self._cache = HashCache(cache_path)
        self._dockerfile = dockerfile
        self._temporary = temporary

    # constructors

    @classmethod
    def from_directory(cls, path: str, **kw) -> "BuildContext":
        return cls(path, **kw)

    @classmethod
    def from_tarball(cls, src: str | BinaryIO, *, tmpdir: str | None = None, **kw) -> "BuildContext":
        """Extract a tar context (plain/gz/bz2/xz) into a private temp dir."""
        tmp = tempfile.mkdtemp(prefix="jocker-context-", dir=tmpdir)
        try:
            writer = _Writer(tmp, owner=None, chmod=None, strict=True, err=UsageError)
            if isinstance(src, str):
                with open(src, "rb") as f:
                    _extract_tar(f, writer, "/")
            else:
                _extract_tar(src, writer, "/")
            return cls(tmp, temporary=True, **kw)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UsageError(f"cannot extract build context: {e}") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def from_stdin(cls, stream: BinaryIO, *, tmpdir: str | None = None, **kw) -> "BuildContext":
        """`build -`: a tar context, or else a Dockerfile with an empty context."""
        head = b""
        while len(head) < 512:
            chunk = stream.read(512 - len(head))
            if not chunk:
                break
            head += chunk
        if _looks_like_archive(head):
            return cls.from_tarball(io.BufferedReader(_Prefixed(head, stream)), tmpdir=tmpdir, **kw)
        try:
            text = (head + stream.read()).decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError("the Dockerfile on stdin is not valid UTF-8") from e
        return cls(tempfile.mkdtemp(prefix="jocker-context-", dir=tmpdir),
                   dockerfile=text, temporary=True, **kw)

    @classmethod
    def open(cls, spec: str, *, stdin: BinaryIO | None = None, **kw) -> "BuildContext":
        """The context named on the command line: "-", a directory or a tarball."""
        if spec == "-":
            return cls.from_stdin(stdin if stdin is not None else sys.stdin.buffer, **kw)
        if is_url(spec) or spec.startswith("git@"):
            raise UsageError(f"remote build contexts are not supported: {spec}",
                             hint="clone or download it and pass the local path")
        if os.path.isdir(spec):
            return cls.from_directory(spec, **kw)
        if os.path.isfile(spec):
            return cls.from_tarball(spec, **kw)
        raise UsageError(f'unable to prepare context: path "{spec}" not found')

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)
            self._temporary = False

    def __enter__(self) -> "BuildContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # the Dockerfile

    def dockerfile_text(self, name: str = "Dockerfile") -> str:
        """The Dockerfile (-f): context-relative, or an absolute host path.

        It is read even if .dockerignore excludes it, as Docker does.
        """
        if self._dockerfile is not None:
            return self._dockerfile
        path = name if os.path.isabs(name) else os.path.join(self.root, name)
        candidates = [path]
        if name == "Dockerfile":
            candidates.append(os.path.join(self.root, "dockerfile"))  # Docker's fallback
        for cand in candidates:
            # An extracted tarball is untrusted: its Dockerfile must not lead out.
            if self._temporary and not _inside(os.path.realpath(cand), self.root):
                continue
            try:
                with open(cand, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            except OSError as e:
                raise UsageError(f"cannot read Dockerfile {cand}: {e.strerror}") from e
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UsageError(f"Dockerfile {cand} is not valid UTF-8") from e
        raise UsageError(f"cannot locate Dockerfile: {path}")

    # sources

    def resolve_sources(self, patterns: list[str]) -> list[Source]:
        """The sources of a COPY/ADD, in order, wildcards expanded."""
        try:
            return self._resolve_sources(patterns)
        except OSError as e:
            raise BuildError(f"cannot read the build context: {e}") from e

    def _resolve_sources(self, patterns: list[str]) -> list[Source]:
        found: list[Source] = []
        seen: set[str] = set()
        for pattern in patterns:
            rel = self._source_rel(pattern)
            if has_magic(rel):
                matched = [s for s in (self._source(r, pattern, quiet=True)
                                       for r in self._glob(rel)) if s]
                if not matched:
                    raise BuildError(f"no source files were specified: {pattern} matches nothing "
                                     "in the build context (or only files excluded by .dockerignore)")
            else:
                matched = [self._source(rel, pattern)]
            for src in matched:
                if src.relpath not in seen:
                    seen.add(src.relpath)
                    found.append(src)
        return found

    @staticmethod
    def _source_rel(pattern: str) -> str:
        # "/x" means the context's x; a relative path may not climb out.
        if pattern.startswith("/"):
            return clean_path(pattern).lstrip("/") or "."
        rel = clean_path(pattern)
        if rel == ".." or rel.startswith("../"):
            raise BuildError(f"forbidden path outside the build context: {pattern}")
        return rel

    def _glob(self, rel: str) -> list[str]:
        """Go filepath.Glob inside the context: each segment matched in its directory."""
        cands = [""]
        for seg in rel.split("/"):
            nxt = []
            for cand in cands:
                if has_magic(seg):
                    try:
                        names = sorted(os.listdir(os.path.join(self.root, cand)))
                    except OSError:
                        continue
                    rx = compile_glob(seg)
                    nxt += [_join(cand, n) for n in names if rx.fullmatch(n)]
                elif os.path.lexists(os.path.join(self.root, cand, seg)):
                    nxt.append(_join(cand, seg))
            cands = nxt
        return cands

    def _source(self, rel: str, pattern: str, quiet: bool = False) -> Source | None:
        host = self.root if rel == "." else os.path.join(self.root, rel)
        lst = _lstat(host)
        # Ignored entries are invisible: check that before anything else.
        if lst is None or not self._visible(rel, "dir" if stat.S_ISDIR(lst.st_mode) else "file"):
            return self._missing(rel, quiet)
        real = os.path.realpath(host)
        if not _inside(real, self.root):
            raise BuildError(f"forbidden path outside the build context: {pattern}",
                             hint=f"{rel} is a symlink that leads out of the context")
        st = _lstat(real)
        if st is None:
            return self._missing(rel, quiet)
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise BuildError(f"{pattern}: not a regular file or directory")
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        base = os.path.relpath(real, self.root).replace(os.sep, "/")
        if base != rel and not self._visible(base, kind):
            return self._missing(rel, quiet)
        return Source(rel, real, kind, base)

    @staticmethod
    def _missing(rel: str, quiet: bool) -> None:
        if not quiet:
            raise BuildError(_NOT_FOUND.format(rel))
        return None

    def _visible(self, rel: str, kind: str) -> bool:
        if not self.ignore.matches(rel):
            return True
        # An ignored directory still exists if an exception keeps something in it.
        if kind == "dir" and self.ignore.may_contain_exceptions(rel):
            return any(True for _ in self._walk_dir(os.path.join(self.root, rel), "", rel))
        return False

    def _walk(self, src: Source) -> Iterator[tuple[str, str, os.stat_result]]:
        return self._walk_dir(src.path, "", src.base)

    def _walk_dir(self, host: str, rel: str, base: str | None
                  ) -> Iterator[tuple[str, str, os.stat_result]]:
        """(path below the source, host path, lstat), sorted, pre-order, ignores applied."""
        with os.scandir(host) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            r = _join(rel, entry.name)
            st = entry.stat(follow_symlinks=False)
            ctx = None if base is None else _join(base, r)
            ignored = ctx is not None and self.ignore.matches(ctx)
            if stat.S_ISDIR(st.st_mode):
                if not ignored:
                    yield r, entry.path, st
                if not ignored or self.ignore.may_contain_exceptions(ctx):
                    yield from self._walk_dir(entry.path, r, base)
            elif not ignored and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                yield r, entry.path, st  # sockets, fifos and devices are skipped

    # hashing

    def content_hash(self, sources: list[Source]) -> str:
        """The cache key of some sources' content: "sha256:<hex>"."""
        h = hashlib.sha256()
        try:
            for src in sources:
                self._hash_entry(h, src.relpath, src.path, os.stat(src.path))
                if src.kind == "dir":
                    for rel, path, st in self._walk(src):
                        self._hash_entry(h, _join(src.relpath, rel), path, st)
        except OSError as e:
            raise BuildError(f"cannot read the build context: {e}") from e
        finally:
            try:
                self._cache.save()
            except OSError as e:  # a lost cache only costs a re-hash next time
                log.warning("cannot save the hash cache %s: %s", self._cache.path, e)
        return "sha256:" + h.hexdigest()

    def _hash_entry(self, h, rel: str, path: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            kind, extra = "d", ""
        elif stat.S_ISLNK(st.st_mode):
            kind, extra = "l", os.readlink(path)
        else:
            kind, extra = "f", self._file_digest(path, st)
        # Four NUL-separated fields: no field can contain a NUL, so no ambiguity.
        record = f"{kind}\0{rel}\0{stat.S_IMODE(st.st_mode):o}\0{extra}\0"
        h.update(record.encode("utf-8", "surrogateescape"))

    def _file_digest(self, path: str, st: os.stat_result) -> str:
        cached = self._cache.get(path, st)
        if cached:
            return cached
        h = hashlib.sha256()
        with _open_nofollow(path) as f:
            before = os.fstat(f.fileno())
            while chunk := f.read(CHUNK):
                h.update(chunk)
                self.bytes_hashed += len(chunk)
            after = os.fstat(f.fileno())
        digest = h.hexdigest()
        if _cacheable(before, after):
            self._cache.put(path, after, digest)
        return digest

    # copying

    def copy_into(self, sources: list[Source], dest_root: str, dest: str, workdir: str = "/",
                  chown: tuple[int, int] | None = None, chmod: int | None = None,
                  *, unpack: bool = False) -> list[str]:
        """COPY (or, with unpack=True, ADD) sources into the image at `dest_root`.

        Returns the image paths written at the top level.
        """
        if not sources:
            raise BuildError("no source files were specified")
        if not os.path.isdir(dest_root):
            raise BuildError(f"the image root {dest_root} is not a directory")
        as_dir_syntax = dest.endswith("/") or dest == "." or dest.endswith("/.")
        target = clean_path(posixpath.join("/", workdir or "/", dest))
        owner = chown if chown is not None else _default_owner()
        writer = _Writer(dest_root, owner=owner, chmod=chmod, strict=False, err=BuildError,
                         keep_owner=chown is None and owner is not None)
        written = []
        try:
            as_dir = (as_dir_syntax or len(sources) > 1
                      or os.path.isdir(resolve_in_root(writer.root, target)))
            for src in sources:
                written.append(self._copy_one(writer, src, target, as_dir, unpack))
            writer.finish()
        except OSError as e:
            raise BuildError(f"copying to {target} failed: {e}") from e
        return written

    def _copy_one(self, w: _Writer, src: Source, target: str, as_dir: bool, unpack: bool) -> str:
        st = os.stat(src.path)
        if src.kind == "dir":
            # A directory source copies its contents, never the directory itself.
            dirs = {target: w.ensure_dir(target, st.st_mode, st.st_mtime_ns)}
            for rel, path, est in self._walk(src):
                self._copy_entry(w, dirs, posixpath.join(target, rel), path, est)
            return target
        if unpack and src.base is not None and is_archive(src.path):
            with open(src.path, "rb") as f:
                _extract_tar(f, w, target)
            return target
        path = posixpath.join(target, posixpath.basename(src.relpath)) if as_dir else target
        if path == "/":
            raise BuildError(f"cannot copy {src.relpath} over the image root")
        parent = w.ensure_dir(posixpath.dirname(path))
        with open(src.path, "rb") as f:
            w.put_file(parent, posixpath.basename(path), f, st.st_mode, st.st_mtime_ns)
        return path

    @staticmethod
    def _copy_entry(w: _Writer, dirs: dict[str, str], path: str, host: str,
                    st: os.stat_result) -> None:
        parent_path, name = posixpath.split(path)
        parent = dirs.get(parent_path)
        if parent is None:  # its directory was ignored but this entry is not
            parent = dirs[parent_path] = w.ensure_dir(parent_path)
        if stat.S_ISDIR(st.st_mode):
            dirs[path] = w.put_dir(parent, name, st.st_mode, st.st_mtime_ns)
        elif stat.S_ISLNK(st.st_mode):
            w.put_symlink(parent, name, os.readlink(host), st.st_mtime_ns)
        else:
            with _open_nofollow(host) as f:
                w.put_file(parent, name, f, st.st_mode, st.st_mtime_ns)
