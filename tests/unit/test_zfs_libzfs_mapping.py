"""The py-libzfs driver's own logic, without libzfs.

The fakes mimic only the attribute names the driver reads from py-libzfs
(libzfs.pyx): ZFSException(code, message).code, PropertySource / Error enum
members (.name), ZFSProperty.rawvalue/.value/.source, ZFSUserProperty.value/
.source, and the dicts of datasets_serialized()/snapshots_serialized(). They
test the mapping, not libzfs.
"""

from __future__ import annotations

import enum
import errno
import io
import os
from jocker.host.runner import BUSY_DELAYS
import subprocess
import sys
import types
from pathlib import Path

import pytest

from jocker.errors import Conflict, JockerError, NotFound
from jocker.storage import zfs_libzfs as m


class FakeSource(enum.IntEnum):          # libzfs.PropertySource (ZPROP_SRC_* values)
    NONE = 0x1
    DEFAULT = 0x2
    TEMPORARY = 0x4
    LOCAL = 0x8
    INHERITED = 0x10
    RECEIVED = 0x20


class FakeError(enum.IntEnum):           # libzfs.Error (a few EZFS_* members)
    BUSY = 2007
    EXISTS = 2008
    NOENT = 2009
    UMOUNTFAILED = 2029


class FakeZFSException(RuntimeError):    # libzfs.ZFSException
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class FakeProp:                          # libzfs.ZFSProperty
    def __init__(self, rawvalue, source, value=None):
        self.rawvalue, self.source, self.value = rawvalue, source, value if value is not None else rawvalue


class FakeUserProp:                      # libzfs.ZFSUserProperty
    def __init__(self, value, source):
        self.value, self.rawvalue, self.source = value, value, source


class FakeObj:                           # libzfs.ZFSDataset / ZFSSnapshot (properties only)
    def __init__(self, name, props, children=(), snapshots=()):
        self.name, self.properties = name, props
        self.children_recursive, self.snapshots = list(children), list(snapshots)


FS_PROPS = {
    "type": FakeProp("filesystem", FakeSource.NONE),
    "creation": FakeProp("1700000000", FakeSource.NONE, value="Tue Nov 14 22:13 2023"),
    "used": FakeProp("123456789", FakeSource.NONE, value="118M"),
    "origin": FakeProp("", FakeSource.NONE),                 # zfs_prop_get failed: not a clone
    "mountpoint": FakeProp("/pool/a", FakeSource.INHERITED),
    "readonly": FakeProp("off", FakeSource.DEFAULT),
    "mounted": FakeProp("yes", FakeSource.NONE),
    "compression": FakeProp("lz4", FakeSource.LOCAL),        # native, not a STAT_PROP
    "jocker:own": FakeUserProp("1", FakeSource.LOCAL),
    "jocker:recv": FakeUserProp("2", FakeSource.RECEIVED),
    "jocker:parent": FakeUserProp("3", FakeSource.INHERITED),
    "jocker:nosrc": FakeUserProp("4", None),
    "jocker:dash": FakeUserProp("-", FakeSource.LOCAL),
}


def test_source_name_accepts_enum_name_and_none():
    assert m.source_name(FakeSource.LOCAL) == "local"
    assert m.source_name("RECEIVED") == "received"
    assert m.source_name(None) == "none"


def test_keep_value_drops_unset_and_stringifies():
    assert [m.keep_value(v) for v in (None, "", "-", 0, "42")] == [None, None, None, "0", "42"]


def test_object_properties_follow_the_cli_rules():
    ds = m.build_dataset("pool/a", m.entries_from_object(FakeObj("pool/a", FS_PROPS)))
    assert dict(ds) == {
        "type": "filesystem", "creation": "1700000000", "used": "123456789",
        "mounted": "yes", "jocker:own": "1", "jocker:recv": "2",
    }   # inherited mountpoint and default readonly are left out, as `zfs get -s local,received,none`
    assert ds.name == "pool/a" and ds.int("used") == 123456789


def test_serialized_tree_is_flattened_and_filtered():
    def props(**kw):
        return {k: {"value": v, "rawvalue": v, "parsed": v, "source": s} for k, (v, s) in kw.items()}
    items = [{"name": "p", "properties": props(type=("filesystem", "NONE")), "children": [
        {"name": "p/a", "properties": props(used=("7", "NONE"), **{"jocker:x": ("y", "LOCAL"),
                                                                    "jocker:z": ("w", "INHERITED")}),
         "children": []}]}]
    out = {d["name"]: m.build_dataset(d["name"], m.entries_from_serialized(d["properties"]))
           for d in m.flatten_serialized(items)}
    assert out == {"p": {"type": "filesystem"}, "p/a": {"used": "7", "jocker:x": "y"}}
    assert list(m.entries_from_serialized({"bogus": 0})) == []


@pytest.mark.parametrize("code, message, kind", [
    (FakeError.NOENT, "Dataset pool/x not found", "notfound"),
    (FakeError.EXISTS, "dataset already exists", "exists"),
    (FakeError.BUSY, "dataset is busy", "busy"),
    (FakeError.UMOUNTFAILED, "cannot unmount '/p/a': pool or dataset is busy", "busy"),
    (1, "Cannot destroy p@s: snapshot has dependent clones", "other"),   # py-libzfs's own raw code
    (errno.ENOENT, "no such thing", "notfound"),
    (errno.EINVAL, "Key must be supplied", "other"),
])
def test_error_kind(code, message, kind):
    assert m.error_kind(FakeZFSException(code, message)) == kind


def test_translate_names_the_dataset():
    nf = m.translate(FakeZFSException(FakeError.NOENT, "Dataset pool/x not found"), None, "pool/x")
    assert isinstance(nf, NotFound) and str(nf) == "no such dataset: pool/x"
    parent = m.translate(FakeZFSException(FakeError.NOENT, "parent does not exist"), "create", "pool/x/y")
    assert isinstance(parent, NotFound) and str(parent) == "cannot create pool/x/y: parent does not exist"
    assert isinstance(m.translate(FakeZFSException(FakeError.EXISTS, "exists"), "create", "p/a"), Conflict)
    other = m.translate(FakeZFSException(1, "snapshot has dependent clones"), "destroy", "p/a@s")
    assert type(other) is JockerError and "p/a@s" in str(other)


def test_retry_busy_backs_off_then_succeeds():
    calls, slept = [], []

    def fn():
        calls.append(1)
        if len(calls) < 3:
            raise FakeZFSException(FakeError.BUSY, "dataset is busy")
        return "ok"
    assert m.retry_busy(fn, FakeZFSException, sleep=slept.append) == "ok"
    assert slept == list(BUSY_DELAYS[:2])   # the runner's own back-off schedule


def test_retry_busy_gives_up_and_never_retries_other_errors():
    slept = []

    def busy():
        raise FakeZFSException(FakeError.BUSY, "dataset is busy")
    with pytest.raises(FakeZFSException):
        m.retry_busy(busy, FakeZFSException, delays=(0.01, 0.02), sleep=slept.append)
    assert slept == [0.01, 0.02]

    def gone():
        raise FakeZFSException(FakeError.NOENT, "gone")
    slept.clear()
    with pytest.raises(FakeZFSException):
        m.retry_busy(gone, FakeZFSException, sleep=slept.append)
    assert slept == []


def test_outside_dependents_are_clones_elsewhere():
    names = ["p/a/b", "p/a@s", "p/a/b@t", "p/ab", "p/c", "p/a"]
    assert m.outside_dependents("p/a", names) == ["p/ab", "p/c"]


def test_plan_send():
    assert m.plan_send("p/a@2", None, None) == (None, False)
    assert m.plan_send("p/a@2", "p/a@1", None) == ("1", False)
    assert m.plan_send("p/a@2", "@1", None) == ("1", False)
    assert m.plan_send("p/a@2", "p/base@s", "p/base@s") == (None, True)
    with pytest.raises(JockerError, match="neither a snapshot of p/a"):
        m.plan_send("p/a@2", "p/other@1", "p/base@s")


def test_missing_libzfs_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "libzfs", None)      # makes `import libzfs` fail
    with pytest.raises(JockerError) as exc:
        m.ZfsLibzfs()
    assert str(exc.value) == m.MISSING and "zfs_driver = cli" in str(exc.value)


def test_module_import_does_not_import_libzfs(tmp_path):
    (tmp_path / "libzfs.py").write_text("raise SystemExit('libzfs imported at module import')\n")
    repo = Path(m.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo)])}
    subprocess.run([sys.executable, "-c", "import jocker.storage.zfs_libzfs"], check=True, env=env)


# -- the driver over a minimal fake module ---------------------------------

class FakeZFS:                           # libzfs.ZFS: only what each test needs
    def __init__(self, objects=None, serialized=None, snaps=None, dependents=None):
        self.objects, self.dependents = objects or {}, dependents or {}
        if serialized is not None:
            self.datasets_serialized = lambda props, user_props, datasets: iter(serialized)
            self.snapshots_serialized = lambda props, datasets, recursive: list(snaps or [])

    def get_dataset(self, name):
        if name not in self.objects:
            raise FakeZFSException(FakeError.NOENT, f"Dataset {name} not found")
        obj = self.objects[name]
        obj.dependents = [types.SimpleNamespace(name=n) for n in self.dependents.get(name, [])]
        return obj

    get_snapshot = get_dataset


def driver(zfs):
    mod = types.SimpleNamespace(ZFS=lambda: zfs, ZFSException=FakeZFSException,
                                SendFlag=enum.Enum("SendFlag", "PROPS FROMORIGIN"))
    return m.ZfsLibzfs(module=mod)


def test_tree_uses_the_batch_calls():
    snap = {"name": "p/a@s", "properties": {"type": {"rawvalue": "snapshot", "value": "snapshot", "source": "NONE"}}}
    items = [{"name": "p/a", "properties": {}, "children": [{"name": "p/a/b", "properties": {}}]}]
    d = driver(FakeZFS({"p/a": FakeObj("p/a", {})}, serialized=items, snaps=[snap]))
    assert d.tree("p/a") == {"p/a": {}, "p/a/b": {}, "p/a@s": {"type": "snapshot"}}


def test_tree_falls_back_to_object_walk_and_raises_not_found():
    snap = FakeObj("p/a@s", {"type": FakeProp("snapshot", FakeSource.NONE)})
    child = FakeObj("p/a/b", {"jocker:k": FakeUserProp("v", FakeSource.LOCAL)})
    d = driver(FakeZFS({"p/a": FakeObj("p/a", FS_PROPS, children=[child], snapshots=[snap])}))
    tree = d.tree("p/a")
    assert set(tree) == {"p/a", "p/a/b", "p/a@s"} and tree["p/a/b"] == {"jocker:k": "v"}
    with pytest.raises(NotFound, match="no such dataset: p/missing"):
        d.tree("p/missing")


def test_destroy_refuses_like_zfs_destroy_without_R():
    objs = {"p/a": FakeObj("p/a", {})}
    with pytest.raises(Conflict, match="children or snapshots"):
        driver(FakeZFS(objs, dependents={"p/a": ["p/a@s"]})).destroy("p/a")
    with pytest.raises(Conflict, match="p/elsewhere"):
        driver(FakeZFS(objs, dependents={"p/a": ["p/a@s", "p/elsewhere"]})).destroy("p/a", recursive=True)


class FakeSnap:                          # libzfs.ZFSSnapshot.send(fd, fromname, flags) / ZFS.receive(name, fd, ...)
    def __init__(self):
        self.sent, self.received = None, b""

    def send(self, fd, fromname=None, flags=None):
        self.sent = (fromname, flags)
        os.write(fd, b"stream-bytes" * 1000)

    def receive(self, name, fd, force=False, nomount=False):
        assert nomount and not force
        while chunk := os.read(fd, 4096):
            self.received += chunk


def test_send_and_receive_pump_through_pipes_for_python_streams():
    snap = FakeSnap()
    zfs = FakeZFS({"p/a@2": snap, "p/a": FakeObj("p/a", {})})
    zfs.receive = snap.receive
    d = driver(zfs)
    out = io.BytesIO()
    d.send("p/a@2", out, incremental_from="p/a@1")
    assert out.getvalue() == b"stream-bytes" * 1000
    assert snap.sent[0] == "1" and {f.name for f in snap.sent[1]} == {"PROPS"}
    d.receive("p/b", io.BytesIO(out.getvalue()))
    assert snap.received == out.getvalue()


def test_send_reports_a_failing_output_stream():
    class Broken(io.RawIOBase):
        def writable(self):
            return True

        def fileno(self):
            raise io.UnsupportedOperation

        def write(self, b):
            raise OSError(errno.ENOSPC, "disk full")

    class Snap(FakeSnap):
        def send(self, fd, fromname=None, flags=None):
            try:
                while True:
                    os.write(fd, b"x" * 65536)
            except BrokenPipeError:
                raise FakeZFSException(FakeError.NOENT, "write failed") from None
    d = driver(FakeZFS({"p/a@2": Snap()}))
    with pytest.raises(JockerError, match="cannot send p/a@2: the stream failed: .*disk full"):
        d.send("p/a@2", Broken())
