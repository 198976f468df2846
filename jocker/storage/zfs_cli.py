"""ZFS through the zfs(8)/zpool(8) command line: the default driver.

Uses only options that both OpenZFS 2.x (FreeBSD 13-15) and zfs-fuse (the
Linux workbench) understand: `zfs get -Hp -r -s ... -o ...` for batched reads
(zfs-fuse has no `list -p`, no `clones` property, no holds, no channel
programs, no `zfs diff`), `-o prop=value` at create/snapshot/clone time so one
command writes a dataset and its metadata. Setting several properties in one
`zfs set` is OpenZFS-only; it is probed once and falls back to one call each.
"""

from __future__ import annotations

import sys
import time

from ..errors import HostCommandError, NotFound
from ..host.runner import Runner, default_runner
from .base import STAT_PROPS, Dataset, ZfsDriver

# Sources that make a user property "ours": set here, or carried by zfs recv.
_OWN_SOURCES = ("local", "received")


def _opts(props: dict[str, str] | None) -> list[str]:
    out: list[str] = []
    for k, v in (props or {}).items():
        out += ["-o", f"{k}={v}"]
    return out


def parse_get_output(text: str) -> dict[str, Dataset]:
    """Parse `zfs get -Hp -o name,property,value,source` output into Datasets.

    Keeps the native stats the engine needs and user properties that were set
    on the object itself (inherited user properties belong to the parent).
    """
    tree: dict[str, Dataset] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        name, prop, value, source = parts
        ds = tree.get(name)
        if ds is None:
            ds = tree[name] = Dataset(name)
        if ":" in prop:
            if source.split(" ")[0] in _OWN_SOURCES and value != "-":
                ds[prop] = value
        elif prop in STAT_PROPS and value != "-":
            ds[prop] = value
    return tree


class ZfsCli(ZfsDriver):
    name = "cli"
    # zfs-fuse (the only ZFS the workbench has): `zfs destroy` of a mounted
    # dataset answers "busy" on its first try nearly every time (measured
    # 6 of 6; the daemon has not finished its own unmount), and a retry costs
    # a second command plus the back-off; `zfs unmount` first, then destroy,
    # was busy 2 of 6 and ~20% faster. FreeBSD's in-kernel ZFS unmounts
    # inside destroy without that race: one command stays cheaper there.
    unmount_before_destroy = sys.platform.startswith("linux")

    def __init__(self, runner: Runner | None = None, zfs: str = "zfs", zpool: str = "zpool"):
        self.runner = runner or default_runner()
        self.zfs = zfs
        self.zpool = zpool
        self._multi_set: bool | None = None   # probed on first multi-property set

    def _z(self, *args: str, **kw):
        return self.runner.run([self.zfs, *args], **kw)

    # -- pools ---------------------------------------------------------------
    def pool_exists(self, pool: str) -> bool:
        return self.runner.run([self.zpool, "list", "-H", "-o", "name", pool], check=False).returncode == 0

    def pool_create_file(self, pool: str, path: str, *, mountpoint: str = "none") -> None:
        self.runner.run([self.zpool, "create", "-m", mountpoint, pool, path])

    def pool_import(self, pool: str, search_dir: str) -> None:
        self.runner.run([self.zpool, "import", "-d", search_dir, pool])

    def pool_destroy(self, pool: str) -> None:
        self.runner.run([self.zpool, "destroy", "-f", pool], retry_busy=True)

    # -- datasets ------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self._z("get", "-H", "-o", "value", "type", name, check=False).returncode == 0

    def create(self, name, props=None, *, parents=False):
        self._z("create", *(["-p"] if parents else []), *_opts(props), name)

    def snapshot(self, snap, props=None):
        self._z("snapshot", *_opts(props), snap)

    def clone(self, snap, name, props=None):
        self._z("clone", *_opts(props), snap, name)

    def destroy(self, name, *, recursive=False):
        self._z("destroy", *(["-r"] if recursive else []), name, retry_busy=True)

    def rename(self, old, new):
        self._z("rename", old, new, retry_busy=True)

    def set_props(self, name, props):
        items = [f"{k}={v}" for k, v in props.items()]
        if not items:
            return
        if len(items) > 1 and self._multi_set is not False:
            res = self._z("set", *items, name, check=False)
            if res.returncode == 0:
                self._multi_set = True
                return
            if self._multi_set:   # it worked before: this is a real failure
                raise HostCommandError(res.argv, res.returncode, res.stderr)
            self._multi_set = False
        for item in items:
            self._z("set", item, name)

    def inherit(self, name, prop):
        self._z("inherit", prop, name)

    def inherit_many(self, names, prop):
        # `zfs inherit PROP DATASET...`: one command for all (~15 ms each on
        # zfs-fuse), in batches that keep the argument list modest.
        names = list(names)
        for i in range(0, len(names), 64):
            self._z("inherit", prop, *names[i:i + 64])

    def _get_args(self, name: str, recursive: bool, props: str) -> list[str]:
        return ["get", "-Hp", *(["-r"] if recursive else []), "-s", "local,received,none",
                "-o", "name,property,value,source", props, name]

    def _get(self, name: str, recursive: bool, props: str = "all", pending=None) -> dict[str, Dataset]:
        if pending is not None:
            res = self.runner.finish(pending, check=False)
        else:
            res = self._z(*self._get_args(name, recursive, props), check=False)
        if res.returncode != 0:
            if "does not exist" in res.stderr:
                raise NotFound(f"no such dataset: {name}")
            raise HostCommandError(res.argv, res.returncode, res.stderr)
        return parse_get_output(res.stdout)

    def get(self, name):
        tree = self._get(name, False)
        if name not in tree:
            raise NotFound(f"no such dataset: {name}")
        return tree[name]

    @staticmethod
    def _tree_props() -> str:
        from . import props as P
        return ",".join(STAT_PROPS + tuple(P.batch_names()))

    def start_tree(self, root):
        return self.runner.begin([self.zfs, *self._get_args(root, True, self._tree_props())])

    def discard_tree(self, pending) -> None:
        self.runner.abandon(pending)

    def tree(self, root, pending=None):
        """Named properties rather than `all`: much faster on large stores. Rare
        values chunked beyond what was named get one more targeted read."""
        from . import props as P
        tree = self._get(root, True, self._tree_props(), pending=pending)
        extra = {n: P.missing_chunks(ds) for n, ds in tree.items()}
        extra = {n: names for n, names in extra.items() if names}
        if extra:
            wanted = sorted({p for names in extra.values() for p in names})
            res = self._z("get", "-Hp", "-s", "local,received", "-o", "name,property,value,source",
                          ",".join(wanted), *sorted(extra))
            for n, ds in parse_get_output(res.stdout).items():
                tree[n].update(ds)
        return tree

    def mount(self, name):
        # zfs-fuse fails about one mount in ninety with a transient "mountpoint
        # or dataset is busy": retried like destroys.
        self._z("mount", name, retry_busy=True)

    def unmount(self, name):
        self._z("unmount", name, retry_busy=True)

    def unmount_in_use(self, name, mountpoint, fstype):
        # zfs-fuse's `zfs unmount` is umount(8) of the FUSE mount: two
        # programs (~13 ms on every `run --rm`) for one umount(2) that costs
        # a third of a millisecond. In-kernel ZFS, or a refusal (busy:
        # someone's cwd or open file is in it), is zfs's to handle and say.
        from . import zfsfuse
        if not (fstype.split(".")[0] == "fuse" and zfsfuse.unmount_fuse(mountpoint)):
            self.unmount(name)
            return
        # The daemon lets go of the dataset just after umount(2) returns: a
        # destroy at once answered busy 16 of 24 times (each costing a zfs
        # run and the back-off), after 2 ms 1 of 24, after 3 ms 2 of 36.
        time.sleep(0.002)

    def send(self, snap, out, *, incremental_from=None):
        args = ["send", "-p"]
        if incremental_from:
            args += ["-i", incremental_from]
        self._z(*args, snap, stdout=out, timeout=3600)

    def receive(self, name, inp):
        self._z("receive", "-u", name, stdin=inp, timeout=3600)
