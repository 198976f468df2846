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

class Engine:
    def __init__(self, cfg: config_mod.Config | None = None, runner: Runner | None = None):
        self.config = cfg or config_mod.load()
        self.runner = runner or default_runner()
        self.layout = Layout(self.config.root, self.config.mountpoint, self.config.rundir)
        self.lock = EngineLock(self.layout.lock_path)

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

    def load_state(self):
        """Every layer, image and container in one ZFS read; initializes storage
        on first use (the embedded default needs no setup step)."""
        try:
            return self.store.load()
        except NotFound:
            pass
        except HostCommandError as e:
            if "daemon is running" not in e.stderr and "no such pool" not in e.stderr:
                raise
        self.init_storage()
        return self.store.load()
