"""Tar streams for `docker cp` (GET/HEAD/PUT /containers/{id}/archive) and
`docker export`, with the path-stat header the docker CLI reads."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import tarfile
import tempfile

from ..errors import NotFound, UsageError
from . import backend
from .routes import route

# Go's os.FileMode bits, which the CLI decodes from the stat header.
_GO_DIR, _GO_SYMLINK, _GO_SETUID, _GO_SETGID, _GO_STICKY = 1 << 31, 1 << 27, 1 << 23, 1 << 22, 1 << 20


def _go_mode(st: os.stat_result) -> int:
    mode = st.st_mode & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= _GO_DIR
    if stat.S_ISLNK(st.st_mode):
        mode |= _GO_SYMLINK
    if st.st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st.st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st.st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def _locate(ref: str, path: str) -> tuple[str, str, str]:
    """(container id, host path of `path` in the container, container root).
    Parents are resolved inside the root as a chroot would; the last
    component is not followed (a link is copied as a link)."""
    from ..builder.context import resolve_in_root
    if not path:
        raise UsageError("archive needs a 'path' parameter")
    cid, root = backend.container_root(ref)
    clean = "/" + path.strip("/")
    parent = resolve_in_root(root, os.path.dirname(clean) or "/")
    host = os.path.join(parent, os.path.basename(clean)) if clean != "/" else root
    if path.endswith("/.") or (path.endswith("/") and os.path.islink(host)):
        host = resolve_in_root(root, clean)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in container {ref}")
    return cid, host, root


def _stat_header(host: str, path: str) -> str:
    st = os.lstat(host)
    info = {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": _go_mode(st),
            "mtime": _rfc3339(st.st_mtime),
            "linkTarget": os.readlink(host) if stat.S_ISLNK(st.st_mode) else ""}
    return base64.b64encode(json.dumps(info).encode()).decode()


def _rfc3339(ts: float) -> str:
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + "Z"


def write_tar(out, base: str, name: str) -> None:
    """Stream base/name as a tar (symlinks stored as links, never followed)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(os.path.join(base, name), arcname=name, recursive=True)


@route("HEAD", "/containers/{ref}/archive")
def archive_head(req, ref):
    path = req.arg("path") or ""
    _, host, _ = _locate(ref, path)
    req.send_empty(200, {"X-Docker-Container-Path-Stat": _stat_header(host, path),
                         "Content-Type": "application/json"})


@route("GET", "/containers/{ref}/archive")
def archive_get(req, ref):
    path = req.arg("path") or ""
    _, host, _ = _locate(ref, path)
    out = req.stream("application/x-tar", headers={"X-Docker-Container-Path-Stat": _stat_header(host, path)})
    write_tar(out, os.path.dirname(host), os.path.basename(host))
    out.close()


@route("PUT", "/containers/{ref}/archive")
def archive_put(req, ref):
    path = req.arg("path") or ""
    _, host, _ = _locate(ref, path)
    if not os.path.isdir(host):
        raise UsageError(f"extraction point is not a directory: {path}")
    work = tempfile.mkdtemp(prefix="jocker-api-cp-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    try:
        try:
            with tarfile.open(fileobj=req.body, mode="r|*") as tar:
                tar.extractall(work, filter="data")        # refuses absolute and .. entries
        except (tarfile.TarError, OSError) as e:
            raise UsageError(f"invalid tar archive in the request body: {e}") from None
        for entry in sorted(os.listdir(work)):
            backend.copy_into(ref, os.path.join(work, entry), path.rstrip("/") or "/")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    req.send_empty(200)
