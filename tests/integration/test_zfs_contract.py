"""One contract for every ZFS driver present: the same operations, the same
answers. py-libzfs runs where it is installed (FreeBSD with the
filesystems/py-libzfs port) and skips with the reason elsewhere."""

from __future__ import annotations

import io
import os
import uuid

import pytest

from jocker.errors import JockerError, NotFound
from jocker.host.runner import Runner


def _driver(kind):
    if kind == "cli":
        from jocker.storage.zfs_cli import ZfsCli
        return ZfsCli(Runner())
    try:
        import libzfs  # noqa: F401
    except ImportError:
        pytest.skip("py-libzfs is not installed (FreeBSD port filesystems/py-libzfs); "
                    "it cannot be built on this Linux host")
    from jocker.storage.zfs_libzfs import ZfsLibzfs
    return ZfsLibzfs()


@pytest.fixture(params=["cli", "libzfs"])
def zfs(request, zfs_pool):
    drv = _driver(request.param)
    base = f"{zfs_pool['pool']}/contract-{uuid.uuid4().hex[:8]}"
    mnt = str(zfs_pool["workdir"] / base.replace("/", "_"))
    drv.create(base, {"mountpoint": mnt})
    yield drv, base, mnt
    drv.destroy(base, recursive=True)


def test_create_props_snapshot_clone_tree(zfs):
    """tree() reports the user properties jocker writes (storage/props.py)."""
    drv, base, mnt = zfs
    drv.create(f"{base}/a", {"jocker:layer.diffid": "sha256:1"})
    with open(os.path.join(mnt, "a", "file"), "w") as f:
        f.write("data")
    drv.snapshot(f"{base}/a@s", {"jocker:image.id": "sha256:2"})
    drv.clone(f"{base}/a@s", f"{base}/b", {"jocker:container.name": "web"})
    tree = drv.tree(base)
    assert tree[f"{base}/a"]["jocker:layer.diffid"] == "sha256:1"
    assert tree[f"{base}/a@s"]["jocker:image.id"] == "sha256:2"
    # Snapshots see their dataset's value as inherited: not reported as their own.
    assert "jocker:layer.diffid" not in tree[f"{base}/a@s"]
    # Clones do not inherit from their origin.
    assert "jocker:layer.diffid" not in tree[f"{base}/b"] and tree[f"{base}/b"]["jocker:container.name"] == "web"
    assert tree[f"{base}/b"]["origin"] == f"{base}/a@s"
    assert tree[f"{base}/a@s"]["type"] == "snapshot"
    assert int(tree[f"{base}/a"]["referenced"]) > 0
    assert int(tree[f"{base}/a@s"]["creation"]) > 1_600_000_000
    assert open(os.path.join(mnt, "b", "file")).read() == "data"
    drv.destroy(f"{base}/b")
    drv.destroy(f"{base}/a", recursive=True)


def test_tree_reads_values_chunked_beyond_the_batch(zfs):
    from jocker.storage import props as P
    drv, base, _ = zfs
    value = "v" * (P.CHUNK * (P.READ_CHUNKS + 3))
    drv.create(f"{base}/big", P.encode("image.config", value))
    assert P.decode(drv.tree(base)[f"{base}/big"], "image.config") == value
    drv.destroy(f"{base}/big")


def test_set_inherit_get_and_missing(zfs):
    drv, base, _ = zfs
    drv.create(f"{base}/p")
    drv.set_props(f"{base}/p", {"jocker:a": "1", "jocker:b": "two"})
    got = drv.get(f"{base}/p")
    assert got["jocker:a"] == "1" and got["jocker:b"] == "two"
    drv.inherit(f"{base}/p", "jocker:a")
    assert "jocker:a" not in drv.get(f"{base}/p")
    with pytest.raises(NotFound):
        drv.get(f"{base}/nope")
    assert drv.exists(f"{base}/p") and not drv.exists(f"{base}/nope")
    drv.destroy(f"{base}/p")


def test_destroy_refuses_origin_of_a_clone(zfs):
    drv, base, _ = zfs
    drv.create(f"{base}/o")
    drv.snapshot(f"{base}/o@s")
    drv.clone(f"{base}/o@s", f"{base}/c")
    with pytest.raises(JockerError):
        drv.destroy(f"{base}/o@s")          # never -R: the clone is someone's data
    assert drv.exists(f"{base}/c")
    drv.destroy(f"{base}/c")
    drv.destroy(f"{base}/o", recursive=True)


def test_send_receive_keeps_snapshot_properties(zfs, tmp_path):
    drv, base, mnt = zfs
    drv.create(f"{base}/src", {"jocker:layer.diffid": "sha256:abc"})
    drv.snapshot(f"{base}/src@img", {"jocker:image.id": "sha256:def"})
    stream = tmp_path / "s.zstream"
    with open(stream, "wb") as out:
        drv.send(f"{base}/src@img", out)
    with open(stream, "rb") as inp:
        drv.receive(f"{base}/dst", inp)
    tree = drv.tree(f"{base}/dst")
    assert tree[f"{base}/dst"]["jocker:layer.diffid"] == "sha256:abc"
    assert tree[f"{base}/dst@img"]["jocker:image.id"] == "sha256:def"
    assert tree[f"{base}/dst"].get("mounted") == "no"
    drv.destroy(f"{base}/dst", recursive=True)
    drv.destroy(f"{base}/src", recursive=True)


def test_mount_unmount_and_rename(zfs):
    drv, base, mnt = zfs
    drv.create(f"{base}/m", {"canmount": "noauto"})
    assert drv.get(f"{base}/m")["mounted"] == "no"
    drv.mount(f"{base}/m")
    assert drv.get(f"{base}/m")["mounted"] == "yes"
    drv.unmount(f"{base}/m")
    drv.rename(f"{base}/m", f"{base}/n")     # unmounted: works on zfs-fuse too
    assert drv.exists(f"{base}/n") and not drv.exists(f"{base}/m")
    drv.destroy(f"{base}/n")


def test_destroy_in_use_leaves_a_refused_dataset_mounted_as_it_was(zfs):
    """A mounted dataset goes; one with a child is refused (no -r) and stays
    mounted with its files and its child's mount (zfs-fuse's unmount first
    would have taken the child's mount along)."""
    drv, base, mnt = zfs
    drv.create(f"{base}/used", {"mountpoint": f"{mnt}/used"})
    open(f"{mnt}/used/f", "w").close()
    drv.destroy_in_use(f"{base}/used", f"{mnt}/used")
    assert not drv.exists(f"{base}/used")
    drv.create(f"{base}/kept", {"mountpoint": f"{mnt}/kept"})
    open(f"{mnt}/kept/f", "w").close()
    drv.create(f"{base}/kept/child")
    with pytest.raises(JockerError):
        drv.destroy_in_use(f"{base}/kept", f"{mnt}/kept")
    assert os.path.exists(f"{mnt}/kept/f") and os.path.ismount(f"{mnt}/kept/child")
    drv.destroy(f"{base}/kept", recursive=True)


def test_tree_is_one_host_command(zfs, zfs_pool):
    drv, base, _ = zfs
    if drv.name != "cli":
        pytest.skip("host-command counting applies to the CLI driver")
    for i in range(5):
        drv.create(f"{base}/d{i}")
        drv.snapshot(f"{base}/d{i}@s")
    before = drv.runner.count
    tree = drv.tree(base)
    assert drv.runner.count - before == 1
    assert sum(1 for n in tree if n.endswith("@s")) == 5
    for i in range(5):
        drv.destroy(f"{base}/d{i}", recursive=True)


class _Recording(Runner):
    def __init__(self):
        super().__init__()
        self.argvs = []

    def run(self, argv, **kw):
        self.argvs.append([str(a) for a in argv])
        return super().run(argv, **kw)


def _fstype_at(path):
    from jocker.storage.stale import mount_points
    here = [fstype for p, fstype, _src in mount_points() if p == os.path.realpath(path)]
    return here[-1] if here else ""


def test_destroy_in_use_of_a_zfs_fuse_mount_runs_no_zfs_unmount(zfs_pool):
    """zfs-fuse's `zfs unmount` is umount(8): the driver unmounts by
    umount(2) itself (one program fewer per `run --rm`); a dataset that is
    not mounted where it is said to be is destroyed without any unmount."""
    from jocker.storage.zfs_cli import ZfsCli
    rec = _Recording()
    drv = ZfsCli(rec)
    base = f"{zfs_pool['pool']}/inuse-{uuid.uuid4().hex[:8]}"
    mnt = str(zfs_pool["workdir"] / base.replace("/", "_"))
    drv.create(base, {"mountpoint": mnt})
    try:
        drv.create(f"{base}/c", {"mountpoint": f"{mnt}/c"})
        if not _fstype_at(f"{mnt}/c").startswith("fuse"):
            pytest.skip("not zfs-fuse: in-kernel ZFS unmounts with zfs unmount")
        open(f"{mnt}/c/f", "w").close()
        rec.argvs.clear()
        drv.destroy_in_use(f"{base}/c", f"{mnt}/c")
        assert [a[1] for a in rec.argvs] == ["destroy"]
        assert not drv.exists(f"{base}/c") and not os.path.ismount(f"{mnt}/c")
        drv.create(f"{base}/u", {"mountpoint": f"{mnt}/u", "canmount": "noauto"})
        rec.argvs.clear()
        drv.destroy_in_use(f"{base}/u", f"{mnt}/u")       # not mounted: nothing to unmount
        assert [a[1] for a in rec.argvs] == ["destroy"]
        assert not drv.exists(f"{base}/u")
    finally:
        drv.destroy(base, recursive=True)
