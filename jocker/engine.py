"""The engine: one library API that the CLI (and later the API server, the
rc.d hook and compose) call. It wires configuration to drivers lazily, so that
a command touches only what it needs and nothing probes the host at import.
"""

from __future__ import annotations

import os
from functools import cached_property

from . import config as config_mod
from .errors import HostCommandError, JockerError, NotFound
from .format import parse_size
from .layout import Layout
from .lock import EngineLock
from .host.runner import Runner, default_runner
from .storage.base import ZfsDriver

# A `run`'s store read begun by the warm CLI's child before the engine
# existed (begin_early_read): (root, lock path, lock generation, the read, its driver).
_early: tuple | None = None


def begin_early_read() -> None:
    """Start a `run`'s store read as soon as the warm CLI's child has the
    command, before click parses it: the ~4 ms of parsing and set-up that
    precede create's read then overlap the `zfs get`. The settings come from
    the configuration's quick reader (a served command has no global
    option); Engine.prefetch_state adopts the read when the engine's root
    and lock are the same, and create takes it under the lock only if no
    holder came between. Never fails: any doubt, no early read."""
    global _early
    try:
        values = config_mod.quick_values(("dataset", "pool_name", "rundir", "zfs_driver"))
        if values["zfs_driver"] != "cli":
            return
        root = config_mod.root_dataset(values)
        lock = EngineLock(Layout(root, "", values["rundir"]).lock_path)
        gen = lock.generation()
        if gen is None:
            return
        from .storage.zfs_cli import ZfsCli
        zfs = ZfsCli(default_runner())
        _early = (root, lock.path, gen, zfs.start_tree(root), zfs)
    except Exception:       # noqa: BLE001 - an optimisation only: the engine reads as usual
        _early = None


def _adopt_early(root: str, lock_path: str):
    """(generation, read) of begin_early_read's read when it is this
    engine's; None otherwise (a read not ours is stopped)."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    if (early[0], early[1]) == (root, lock_path):
        return early[2], early[3]
    early[4].discard_tree(early[3])
    return None


class Engine:
    def __init__(self, cfg: config_mod.Config | None = None, runner: Runner | None = None):
        self.config = cfg or config_mod.load()
        self.runner = runner or default_runner()
        self.layout = Layout(self.config.root, self.config.mountpoint, self.config.rundir)
        self.lock = EngineLock(self.layout.lock_path)
        self._prefetched: dict[int, tuple] = {}     # thread -> (lock generation, pending read)

    # -- drivers -------------------------------------------------------------
    @cached_property
    def zfs(self) -> ZfsDriver:
        from .storage import make_driver
        return make_driver(self.config.zfs_driver, self.runner)

    @cached_property
    def store(self):
        from .images.store import ImageStore
        return ImageStore(self.zfs, self.layout, self.lock)

    @cached_property
    def runtime(self):
        from .runtime import select_driver
        return select_driver(self)

    @cached_property
    def network_driver(self):
        from .net.driver import make_driver
        return make_driver(self.runner, "FreeBSD" if self.config.runtime_name() == "jail" else "Linux")

    # -- storage -------------------------------------------------------------
    def init_storage(self) -> list[str]:
        """Create what is missing: the embedded pool, the root dataset and its
        children. Returns what was created. Never touches anything else."""
        created: list[str] = []
        cfg = self.config
        with self.lock.held():
            if os.uname().sysname == "Linux":
                from .storage import stale, zfsfuse
                if zfsfuse.ensure_running(self.runner):
                    created.append("started zfs-fuse")
                # After a zfs-fuse restart every old mount is stale: remount ours.
                created += stale.heal(self.runner, self.zfs, self.layout.root, self.layout.mountpoint)
            if cfg.embedded:
                created += self._ensure_embedded_pool()
            pool = cfg.root.split("/")[0]
            if not self.zfs.pool_exists(pool):
                raise JockerError(f"ZFS pool {pool!r} (from dataset={cfg.root}, {cfg.sources['dataset']}) "
                                  "does not exist", hint="create it, or leave `dataset` unset to use "
                                  "jocker's embedded file-backed pool")
            if not self.zfs.exists(self.layout.root):
                self.zfs.create(self.layout.root, {"mountpoint": self.layout.mountpoint}, parents=True)
                created.append(self.layout.root)
            for name in self.layout.skeleton()[1:]:
                if not self.zfs.exists(name):
                    self.zfs.create(name, self.layout.dataset_props(name))
                    created.append(name)
            for path in self.layout.private_dirs():
                os.chmod(path, 0o700)
        return created

    def _ensure_embedded_pool(self) -> list[str]:
        cfg = self.config
        pool, path = cfg.pool_name, cfg.pool_file
        if self.zfs.pool_exists(pool):
            return []
        if os.path.exists(path):
            self.zfs.pool_import(pool, os.path.dirname(path))
            return [f"imported pool {pool} from {path}"]
        try:
            size = parse_size(cfg.pool_size)
        except ValueError:
            raise JockerError(f"invalid pool_size {cfg.pool_size!r}: use a size like 4G") from None
        if size < 64 << 20:
            raise JockerError(f"pool_size {cfg.pool_size} is too small: ZFS needs at least 64M")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(size)          # sparse: uses space only as data is written
        try:
            self.zfs.pool_create_file(pool, path)
        except JockerError:
            os.unlink(path)
            raise
        return [f"created pool {pool} on {path} ({cfg.pool_size}, sparse)"]

    def prefetch_state(self) -> None:
        """Start the store read now, for this thread's next load_state(),
        which comes after other work (`run`: the request for its supervisor
        goes out meanwhile). That load_state() takes it only if the engine
        lock's count moved by its own take alone, i.e. no holder of the lock
        came between (as good as a read made under the lock); else it is
        dropped and the store read again. Never fails: any doubt, no prefetch."""
        import _thread
        me = _thread.get_ident()
        if me in self._prefetched:
            return
        early = _adopt_early(self.layout.root, self.lock.path) if self.config.zfs_driver == "cli" else None
        if early is not None:
            self._prefetched[me] = early
            return
        gen = self.lock.generation()
        if gen is None:
            return
        try:
            pending = self.store.start_load()
        except JockerError:
            return
        if pending is not None:
            self._prefetched[me] = (gen, pending)

    def drop_prefetch(self) -> None:
        """This thread's prefetched read, if load_state() did not take it."""
        import _thread
        pre = self._prefetched.pop(_thread.get_ident(), None)
        if pre is not None:
            self.zfs.discard_tree(pre[1])

    def load_state(self):
        """Every layer, image and container in one ZFS read; initializes storage
        on first use (the embedded default needs no setup step)."""
        import _thread
        pre = self._prefetched.pop(_thread.get_ident(), None)
        try:
            if pre is not None:
                gen, pending = pre
                if self.lock.only_ours_since(gen):
                    return self.store.load(pending)
                self.zfs.discard_tree(pending)
            return self.store.load()
        except NotFound:
            pass
        except HostCommandError as e:
            if "daemon is running" not in e.stderr and "no such pool" not in e.stderr:
                raise
        self.init_storage()
        return self.store.load()
