"""ZFS through py-libzfs (truenas/py-libzfs; the filesystems/py-libzfs port).

The zfs_cli.py contract, in-process: no host command is ever run. Names cited
are from libzfs.pyx in truenas/py-libzfs; "[U] confirm against py-libzfs on a
FreeBSD host" marks what that source did not settle. libzfs does less than
zfs(8), so this adds back what the command does around the ioctl: mount after
create/clone, unmount before destroy, the checks of `zfs destroy [-r]` (never
-R) and `zfs mount`/`unmount`.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from ..errors import Conflict, JockerError, NotFound
from ..host.runner import BUSY_DELAYS, BUSY_MARKERS
from .base import STAT_PROPS, Dataset, ZfsDriver

MISSING = ("py-libzfs is not installed (install the libzfs extra or the filesystems/py-libzfs port), "
           "or set zfs_driver = cli")
# Sources that make a user property "ours" (as in zfs_cli._OWN_SOURCES).
OWN_SOURCES = ("local", "received")
_CHUNK = 1 << 20
# libzfs handles are not thread-safe, and py-libzfs itself serializes its
# `with ZFS()` contexts on one GLOBAL_CONTEXT_LOCK: do the same, for all calls.
_LOCK = threading.RLock()


# -- pure helpers (unit-tested without libzfs) ------------------------------

def source_name(src: Any) -> str:
    """'local', 'received', 'inherited'... from a PropertySource member
    (ZFSProperty.source), its name (datasets_serialized()'s 'source'), or None
    (ZFSUserProperty.source without one)."""
    return "none" if src is None else str(getattr(src, "name", src)).lower()


def keep_value(raw: Any) -> str | None:
    """The value as a string, or None when unset ('' is what py-libzfs leaves
    when zfs_prop_get fails, e.g. origin of a non-clone; zfs(8) prints '-')."""
    text = "" if raw is None else str(raw)
    return None if text in ("", "-") else text


def build_dataset(name: str, entries: Iterable[tuple[str, Any, Any, Any]]) -> Dataset:
    """entries: (property, rawvalue, value, source). Like the CLI driver's
    `zfs get -s local,received,none`: native STAT_PROPS from the raw (literal,
    `zfs get -p`) value unless inherited or default; user properties only when
    set locally or received."""
    ds = Dataset(name)
    for prop, raw, value, src in entries:
        if ":" in prop:
            if source_name(src) in OWN_SOURCES and (v := keep_value(value)) is not None:
                ds[prop] = v
        elif (prop in STAT_PROPS and source_name(src) in OWN_SOURCES + ("none",)
              and (v := keep_value(raw)) is not None):
            ds[prop] = v
    return ds


def entries_from_object(obj: Any) -> Iterator[tuple[str, Any, Any, Any]]:
    """From ZFSObject.properties (ZFSPropertyDict): ZFSProperty.rawvalue is
    zfs_prop_get(literal=True), i.e. `zfs get -p`; ZFSUserProperty.value."""
    for key, prop in obj.properties.items():
        if ":" in key:
            yield key, None, prop.value, prop.source
        elif key in STAT_PROPS:
            yield key, prop.rawvalue, None, prop.source


def entries_from_serialized(props: dict) -> Iterator[tuple[str, Any, Any, Any]]:
    """From datasets_serialized()/snapshots_serialized() 'properties':
    {prop: {'value', 'rawvalue', 'parsed', 'source': PropertySource name}}."""
    for key, d in (props or {}).items():
        if isinstance(d, dict):
            yield key, d.get("rawvalue"), d.get("value"), d.get("source")


def flatten_serialized(items: Iterable[dict]) -> Iterator[dict]:
    """datasets_serialized() nests descendants under 'children'."""
    stack = list(items)
    while stack:
        d = stack.pop()
        yield d
        stack.extend(d.get("children") or [])


def error_kind(exc: BaseException) -> str:
    """'notfound', 'exists', 'busy' or 'other' for a ZFSException, whose .code
    is a libzfs.Error member (EZFS_*, 2000+) or, raised by py-libzfs itself, a
    plain int (1 for 'snapshot has dependent clones', errno.EINVAL)."""
    code = getattr(exc, "code", None)
    kind = {"NOENT": "notfound", "EXISTS": "exists", "BUSY": "busy"}.get(getattr(code, "name", None) or "")
    if kind is None and isinstance(code, int) and not hasattr(code, "name"):
        kind = {errno.ENOENT: "notfound", errno.EEXIST: "exists", errno.EBUSY: "busy"}.get(code)
    if kind is None and any(m in str(exc) for m in BUSY_MARKERS):
        kind = "busy"      # e.g. Error.UMOUNTFAILED "pool or dataset is busy"
    return kind or "other"


def translate(exc: BaseException, action: str | None, name: str) -> JockerError:
    """A ZFSException as a JockerError naming the dataset; action None = lookup."""
    kind = error_kind(exc)
    if action is None and kind == "notfound":
        return NotFound(f"no such dataset: {name}")
    detail = str(exc) or f"libzfs error {getattr(exc, 'code', '?')}"
    cls = {"notfound": NotFound, "exists": Conflict}.get(kind, JockerError)
    return cls(f"cannot {action or 'open'} {name}: {detail}")


def retry_busy(fn: Callable[[], Any], exc_type: type, delays: Iterable[float] = BUSY_DELAYS,
               sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call fn, retrying while it fails with a busy exc_type; re-raise otherwise."""
    pending = list(delays)
    while True:
        try:
            return fn()
        except exc_type as e:
            if not pending or error_kind(e) != "busy":
                raise
        sleep(pending.pop(0))


def outside_dependents(root: str, names: Iterable[str]) -> list[str]:
    """Dependents that are not root's own children/snapshots: clones elsewhere."""
    return [n for n in names if n != root and not n.startswith((root + "/", root + "@"))]


def plan_send(snap: str, incremental_from: str | None, origin: str | None) -> tuple[str | None, bool]:
    """(fromname, fromorigin) for ZFSSnapshot.send: zfs_send() takes the short
    name of a snapshot of the same filesystem, or FROMORIGIN for a clone's
    origin (as zfs(8) did before zfs_send_one)."""
    if not incremental_from:
        return None, False
    fs = snap.partition("@")[0]
    src_fs, at, short = incremental_from.rpartition("@")
    if at and short and src_fs in ("", fs):
        return short, False
    if at and origin and incremental_from == origin:
        return None, True
    raise JockerError(f"cannot send {snap} incrementally from {incremental_from}: "
                      f"it is neither a snapshot of {fs} nor its origin")


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _locked(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kw):
        with self._lock:
            return fn(self, *args, **kw)
    return wrapper


# -- the driver -------------------------------------------------------------

class ZfsLibzfs(ZfsDriver):
    name = "libzfs"

    def __init__(self, module: Any = None):
        if module is None:
            try:
                import libzfs as module  # noqa: PLC0415 - lazy on purpose
            except ImportError as e:
                raise JockerError(MISSING) from e
            # libzfs_init() returns NULL without /dev/zfs and py-libzfs does not
            # check it (ZFS.__cinit__): later calls would crash the process.
            if not os.path.exists("/dev/zfs"):
                raise JockerError("ZFS is not available: /dev/zfs is missing", hint="load the zfs kernel module")
        self._lz = module
        self._lock = _LOCK
        with _LOCK:
            self._zfs = module.ZFS()   # ZFS(history, history_prefix, ...): libzfs_init()

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _errors(self, action: str | None, name: str):
        try:
            yield
        except self._lz.ZFSException as e:
            raise translate(e, action, name) from e

    def _retry(self, action: str, name: str, fn: Callable[[], Any]) -> Any:
        with self._errors(action, name):
            return retry_busy(fn, self._lz.ZFSException)

    def _get(self, name: str) -> Any:
        # ZFS.get_snapshot / ZFS.get_dataset raise ZFSException(Error.NOENT, ...)
        # whenever zfs_open fails.
        return self._zfs.get_snapshot(name) if "@" in name else self._zfs.get_dataset(name)

    def _open(self, name: str) -> Any:
        with self._errors(None, name):
            return self._get(name)

    def _probe(self, fn: Callable[[], Any], name: str) -> bool:
        try:
            fn()
            return True
        except self._lz.ZFSException as e:
            if error_kind(e) == "notfound":
                return False
            raise translate(e, None, name) from e

    @staticmethod
    def _prop(obj: Any, key: str) -> str | None:
        prop = obj.properties.get(key)     # ZFSPropertyDict.get
        return None if prop is None else prop.value

    def _automount(self, name: str) -> None:
        """What zfs(8) create/clone do after the ioctl: mount if canmount=on."""
        with self._errors("mount", name):
            ds = self._zfs.get_dataset(name)
            if (self._prop(ds, "canmount") == "on" and self._prop(ds, "mountpoint") not in (None, "none", "legacy")
                    and ds.mountpoint is None):            # ZFSDataset.mountpoint: zfs_is_mounted()
                ds.mount()                                 # ZFSDataset.mount: zfs_mount(h, NULL, 0)

    # -- pools ---------------------------------------------------------------
    @_locked
    def pool_exists(self, pool):
        return self._probe(lambda: self._zfs.get(pool), pool)   # ZFS.get: zpool_open_canfail, NOENT if absent

    @_locked
    def pool_create_file(self, pool, path, *, mountpoint="none"):
        vdev = self._lz.ZFSVdev(self._zfs, "file")      # ZFSVdev(root, typ); 'file' = VDEV_TYPE_FILE
        vdev.path = os.path.abspath(path)
        with self._errors("create pool", pool):
            # ZFS.create(name, topology, opts, fsopts): zpool_create, all features enabled
            self._zfs.create(pool, {"data": [vdev]}, {}, {"mountpoint": mountpoint})
        if mountpoint not in ("none", "legacy"):
            self._automount(pool)                          # zpool(8) create mounts the root

    @_locked
    def pool_import(self, pool, search_dir):
        with self._errors("import pool", pool):
            try:   # ZFS.find_import(cachefile, name, destroyed, search_paths) yields ZFSImportablePool
                found = [p for p in self._zfs.find_import(search_paths=[search_dir]) if p.name == pool]
            except TypeError as e:   # [U] confirm against py-libzfs on a FreeBSD host: ports older than search_paths
                raise JockerError("this py-libzfs cannot search a directory for pools; set zfs_driver = cli") from e
            if not found:
                raise NotFound(f"no pool {pool} found in {search_dir}")
            self._zfs.import_pool(found[0], pool, {})      # zpool_import_props, then mounts its datasets

    @_locked
    def pool_destroy(self, pool):
        # ZFS.destroy(name, force): zpool_disable_datasets(force) + zpool_destroy = `zpool destroy -f`;
        # [U] confirm against py-libzfs on a FreeBSD host: force= is in current libzfs.pyx, maybe not in old ports
        self._retry("destroy pool", pool, lambda: self._zfs.destroy(pool, force=True))

    # -- datasets ------------------------------------------------------------
    @_locked
    def exists(self, name):
        return self._probe(lambda: self._get(name), name)

    @_locked
    def create(self, name, props=None, *, parents=False):
        if parents and self.exists(name):
            return                                          # `zfs create -p` on an existing dataset
        parts = name.split("/")
        if not self._probe(lambda: self._zfs.get(parts[0]), parts[0]):
            raise NotFound(f"no such pool: {parts[0]}")
        pool = self._zfs.get(parts[0])
        for i in range(2, len(parts) if parents else 0):
            ancestor = "/".join(parts[:i])
            if not self.exists(ancestor):
                try:
                    pool.create(ancestor, {})
                except self._lz.ZFSException as e:
                    if error_kind(e) != "exists":          # lost a race: fine
                        raise translate(e, "create", ancestor) from e
                self._automount(ancestor)
        with self._errors("create", name):
            pool.create(name, dict(props or {}))            # ZFSPool.create(name, fsopts): zfs_create
        self._automount(name)

    @_locked
    def snapshot(self, snap, props=None):
        ds = self._open(snap.partition("@")[0])
        with self._errors("snapshot", snap):
            ds.snapshot(snap, fsopts=dict(props or {}))     # ZFSDataset.snapshot(full name, fsopts, recursive)

    @_locked
    def clone(self, snap, name, props=None):
        src = self._open(snap)
        with self._errors(f"clone {snap} to", name):
            src.clone(name, dict(props or {}) or None)      # ZFSSnapshot.clone(name, opts): zfs_clone
        self._automount(name)

    def _destroy_one(self, name: str, missing_ok: bool = False) -> None:
        def attempt():
            try:
                obj = self._get(name)
            except self._lz.ZFSException as e:
                if missing_ok and error_kind(e) == "notfound":
                    return
                raise
            if "@" not in name and obj.mountpoint:
                # lzc_destroy of a mounted fs fails EBUSY. [U] confirm against py-libzfs on a FreeBSD host
                obj.umount()
            obj.delete()               # ZFSSnapshot.delete refuses dependent clones (code 1)
        self._retry("destroy", name, attempt)

    @_locked
    def destroy(self, name, *, recursive=False):
        self._open(name)                                    # NotFound first
        if "@" in name:
            if not recursive:
                return self._destroy_one(name)
            fs, _, short = name.partition("@")
            # ZFSDataset.destroy_snapshot(name, defer): zfs_destroy_snaps, fs and descendants
            return self._retry("destroy", name, lambda: self._zfs.get_dataset(fs).destroy_snapshot(short, defer=False))
        with self._errors("destroy", name):
            # ZFSDataset.dependents = get_dependents(False): zfs_iter_dependents, which
            # reports children, snapshots and clones depth-first, dependents before
            # what they depend on (post-order). [U] confirm against py-libzfs on a FreeBSD host
            names = [d.name for d in self._zfs.get_dataset(name).dependents]
        if names and not recursive:
            raise Conflict(f"cannot destroy {name}: it has children or snapshots")
        if outside := sorted(set(outside_dependents(name, names))):
            raise Conflict(f"cannot destroy {name}: clones outside it depend on it: {', '.join(outside)}")
        for dep in names:
            self._destroy_one(dep, missing_ok=True)        # a clone inside is listed twice
        self._destroy_one(name)

    @_locked
    def rename(self, old, new):
        self._open(old)
        # ZFSObject.rename(new_name, nounmount, forceunmount, recursive): zfs_rename
        self._retry("rename", f"{old} to {new}", lambda: self._get(old).rename(new))

    @_locked
    def set_props(self, name, props):
        if not props:
            return
        obj = self._open(name)
        with self._errors("set properties on", name):
            pd = obj.properties
            for key, value in props.items():
                # ZFSPropertyDict.__setitem__ takes a detached ZFSUserProperty and calls
                # zfs_prop_set(handle, key, value): works for native keys too.
                pd[key] = self._lz.ZFSUserProperty(str(value))

    @_locked
    def inherit(self, name, prop):
        obj = self._open(name)
        with self._errors(f"inherit {prop} on", name):
            p = obj.properties.get(prop)
            if p is not None:            # never set: nothing to clear, as `zfs inherit`
                p.inherit()              # ZFSProperty.inherit(recursive=False): zfs_prop_inherit

    @_locked
    def get(self, name):
        obj = self._open(name)
        with self._errors("read properties of", name):
            return build_dataset(name, entries_from_object(obj))

    @_locked
    def tree(self, root, pending=None):         # reads in-process: nothing to start ahead
        if "@" in root:
            return {root: self.get(root)}
        top = self._open(root)       # datasets_serialized() only logs a missing root
        props, out = list(STAT_PROPS), {}
        with self._errors("list", root):
            try:
                # ZFS.datasets_serialized(props, top_level_props, user_props, datasets, snapshots) and
                # ZFS.snapshots_serialized(props, holds, mounted, datasets, recursive): one in-process
                # walk each; user properties always come, with their source.
                items = list(self._zfs.datasets_serialized(props=props, user_props=True, datasets=[root]))
                snaps = self._zfs.snapshots_serialized(props=props, datasets=[root], recursive=True)
                for d in [*flatten_serialized(items), *snaps]:
                    out[d["name"]] = build_dataset(d["name"], entries_from_serialized(d.get("properties")))
            except (AttributeError, TypeError):  # old ports lack these: [U] confirm against py-libzfs on a FreeBSD host
                for ds in [top, *top.children_recursive]:           # ZFSDataset.children_recursive
                    out[ds.name] = build_dataset(ds.name, entries_from_object(ds))
                    for snap in ds.snapshots:                       # ZFSDataset.snapshots
                        out[snap.name] = build_dataset(snap.name, entries_from_object(snap))
        return out

    @_locked
    def mount(self, name):
        ds = self._open(name)
        with self._errors("mount", name):
            if ds.mountpoint:
                raise JockerError(f"cannot mount {name}: filesystem already mounted")
            where, canmount = self._prop(ds, "mountpoint"), self._prop(ds, "canmount")
            if where in (None, "none", "legacy") or canmount == "off":
                # zfs_mount() does nothing here; zfs(8) mount refuses. [U] confirm against py-libzfs on a FreeBSD host
                raise JockerError(f"cannot mount {name}: mountpoint={where}, canmount={canmount}")
        # A transient "dataset is busy" is retried, as destroys are.
        self._retry("mount", name, ds.mount)

    @_locked
    def unmount(self, name):
        ds = self._open(name)
        if not ds.mountpoint:
            raise JockerError(f"cannot unmount {name}: not currently mounted")
        # ZFSDataset.umount(force): zfs_unmountall, which also unmounts mounted
        # descendants (zfs(8) unmount would refuse with them mounted).
        self._retry("unmount", name, lambda: self._zfs.get_dataset(name).umount())

    # -- streams -------------------------------------------------------------
    @_locked
    def send(self, snap, out, *, incremental_from=None):
        src, fs = self._open(snap), snap.partition("@")[0]
        origin = None
        if incremental_from and not incremental_from.startswith(fs + "@"):
            with self._errors("send", snap):
                origin = self._prop(self._zfs.get_dataset(fs), "origin")
        fromname, fromorigin = plan_send(snap, incremental_from, origin)
        flags = {self._lz.SendFlag.PROPS}                   # `zfs send -p`
        if fromorigin:
            flags.add(self._lz.SendFlag.FROMORIGIN)  # without -R: [U] confirm against py-libzfs on a FreeBSD host
        with self._errors("send", snap):
            # ZFSSnapshot.send(fd, fromname, flags) -> parent.send(fd, toname=short name): zfs_send, nogil
            call = lambda fd: src.send(fd, fromname=fromname, flags=flags)  # noqa: E731
            if (fd := _fileno(out)) is not None:
                out.flush()
                call(fd)
            else:
                _pipe_stream(out, call, f"cannot send {snap}", sending=True)

    @_locked
    def receive(self, name, inp):
        with self._errors("receive", name):
            # ZFS.receive(name, fd, force, nomount, resumable, props, limitds): zfs_receive, nogil
            call = lambda fd: self._zfs.receive(name, fd, force=False, nomount=True)  # noqa: E731
            if isinstance(inp, io.FileIO):      # unbuffered: its fd position is the stream's
                call(inp.fileno())
            else:
                _pipe_stream(inp, call, f"cannot receive {name}", sending=False)


def _pipe_stream(stream: Any, call: Callable[[int], Any], what: str, *, sending: bool) -> None:
    """Run call(fd) (zfs_send/zfs_receive, which drop the GIL) on a pipe that a
    thread pumps to/from a Python stream that has no usable fd. A failure of
    the stream wins over the libzfs error it causes."""
    r, w = os.pipe()
    ours, theirs = (r, w) if sending else (w, r)
    failed: list[BaseException] = []

    def pump():
        try:
            if sending:
                while chunk := os.read(r, _CHUNK):
                    stream.write(chunk)
            else:
                while chunk := stream.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(w, view):]
        except BaseException as e:  # noqa: BLE001 - reported below
            if sending or not isinstance(e, BrokenPipeError):   # receive stopping early says why itself
                failed.append(e)
        finally:
            os.close(ours)          # a failed writer makes zfs_send stop on EPIPE
    t = threading.Thread(target=pump, name="zfs-stream", daemon=True)
    t.start()
    try:
        call(theirs)
    finally:
        os.close(theirs)
        t.join()
        if failed:
            raise JockerError(f"{what}: the stream failed: {failed[0]}") from failed[0]
