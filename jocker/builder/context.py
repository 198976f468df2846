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
import logging
import os
import posixpath
import shutil
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from .. import scratch
from ..errors import BuildError, UsageError
from .dockerignore import IgnoreMatcher, clean_path, compile_glob, has_magic
from .fetch import download, is_url  # noqa: F401 (re-exported: part of this module's API)
from .hashcache import HashCache, _cacheable  # noqa: F401
from ..rootfs import (CHUNK, _default_owner, _extract_tar, _inside, _join, _looks_like_archive,  # noqa: F401
                     _lstat, _open_nofollow, _Prefixed, _Writer, is_archive, resolve_in_root)

log = logging.getLogger("jocker.builder.context")

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


def _owner(st: os.stat_result, preserve: bool) -> tuple[int, int] | None:
    """The source's owner when the copy keeps it (COPY --from), else None."""
    return (st.st_uid, st.st_gid) if preserve else None


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
    def from_tarball(cls, src: str | BinaryIO, *, tmpdir: str, **kw) -> "BuildContext":
        """Extract a tar context (plain/gz/bz2/xz) into a private temp dir."""
        tmp = scratch.mkdtemp("jocker-context", tmpdir)
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
    def from_stdin(cls, stream: BinaryIO, *, tmpdir: str, **kw) -> "BuildContext":
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
        return cls(scratch.mkdtemp("jocker-context", tmpdir),
                   dockerfile=text, temporary=True, **kw)

    @classmethod
    def open(cls, spec: str, *, tmpdir: str, stdin: BinaryIO | None = None, **kw) -> "BuildContext":
        """The context named on the command line: "-", a directory or a
        tarball (extracted below tmpdir, jocker's private scratch directory)."""
        if spec == "-":
            return cls.from_stdin(stdin if stdin is not None else sys.stdin.buffer, tmpdir=tmpdir, **kw)
        if is_url(spec) or spec.startswith("git@"):
            raise UsageError(f"remote build contexts are not supported: {spec}",
                             hint="clone or download it and pass the local path")
        if os.path.isdir(spec):
            return cls.from_directory(spec, **kw)
        if os.path.isfile(spec):
            return cls.from_tarball(spec, tmpdir=tmpdir, **kw)
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
                  *, unpack: bool = False, keep_owner: bool = False,
                  instruction: str = "COPY") -> list[str]:
        """COPY (or, with unpack=True, ADD) sources into the image at `dest_root`.

        keep_owner (COPY --from) keeps each source's owner unless `chown` is
        given; otherwise copies are root's. Returns the image paths written at
        the top level.
        """
        if not sources:
            raise BuildError("no source files were specified")
        if len(sources) > 1 and not dest.endswith("/"):
            # The classic builder's rule; BuildKit would overwrite one file
            # with the next (moby/buildkit#1853).
            raise BuildError(f"When using {instruction} with more than one source file, "
                             "the destination must be a directory and end with a /")
        if not os.path.isdir(dest_root):
            raise BuildError(f"the image root {dest_root} is not a directory")
        as_dir_syntax = dest.endswith("/") or dest == "." or dest.endswith("/.")
        target = clean_path(posixpath.join("/", workdir or "/", dest))
        owner = chown if chown is not None else _default_owner()
        writer = _Writer(dest_root, owner=owner, chmod=chmod, strict=False, err=BuildError,
                         keep_owner=chown is None and owner is not None)
        preserve = keep_owner and chown is None and owner is not None
        written = []
        try:
            as_dir = (as_dir_syntax or len(sources) > 1
                      or os.path.isdir(resolve_in_root(writer.root, target)))
            for src in sources:
                written.append(self._copy_one(writer, src, target, as_dir, unpack, preserve))
            writer.finish()
        except OSError as e:
            raise BuildError(f"copying to {target} failed: {e}") from e
        return written

    def _copy_one(self, w: _Writer, src: Source, target: str, as_dir: bool, unpack: bool,
                  preserve: bool = False) -> str:
        st = os.stat(src.path)
        if src.kind == "dir":
            # A directory source copies its contents, never the directory itself.
            dirs = {target: w.ensure_dir(target, st.st_mode, st.st_mtime_ns)}
            for rel, path, est in self._walk(src):
                self._copy_entry(w, dirs, posixpath.join(target, rel), path, est, preserve)
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
            w.put_file(parent, posixpath.basename(path), f, st.st_mode, st.st_mtime_ns, _owner(st, preserve))
        return path

    @staticmethod
    def _copy_entry(w: _Writer, dirs: dict[str, str], path: str, host: str,
                    st: os.stat_result, preserve: bool = False) -> None:
        parent_path, name = posixpath.split(path)
        parent = dirs.get(parent_path)
        if parent is None:  # its directory was ignored but this entry is not
            parent = dirs[parent_path] = w.ensure_dir(parent_path)
        owner = _owner(st, preserve)
        if stat.S_ISDIR(st.st_mode):
            dirs[path] = w.put_dir(parent, name, st.st_mode, st.st_mtime_ns, owner)
        elif stat.S_ISLNK(st.st_mode):
            w.put_symlink(parent, name, os.readlink(host), st.st_mtime_ns, owner)
        else:
            with _open_nofollow(host) as f:
                w.put_file(parent, name, f, st.st_mode, st.st_mtime_ns, owner)
