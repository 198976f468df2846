"""The pull's layer sealing off the critical path (store.LayerSealer) and
the one `zfs inherit` for every layer's writer mark (ZfsCli.inherit_many):
the commands they run, in order, and how failures come out."""

from __future__ import annotations

import threading

import pytest

from jocker.errors import HostCommandError
from jocker.host.runner import Result
from jocker.images.store import LayerSealer
from jocker.storage.zfs_cli import ZfsCli


class Recorder:
    """A runner that records argv (and the thread) and fails on request."""

    def __init__(self, fail_on: str = ""):
        self.calls: list[tuple[list[str], str]] = []
        self.fail_on = fail_on

    def run(self, argv, check=True, **kw):
        self.calls.append((list(argv), threading.current_thread().name))
        if self.fail_on and self.fail_on in argv:
            if check:
                raise HostCommandError(list(argv), 1, f"cannot {self.fail_on}: busy")
            return Result(list(argv), 1, "", "busy")
        return Result(list(argv), 0, "", "")


def test_inherit_many_is_one_command_per_64_datasets():
    rec = Recorder()
    zfs = ZfsCli(runner=rec)
    names = [f"p/jocker/layers/l{i}" for i in range(70)]
    zfs.inherit_many(names, "jocker:txn")
    assert [argv for argv, _ in rec.calls] == [["zfs", "inherit", "jocker:txn", *names[:64]],
                                              ["zfs", "inherit", "jocker:txn", *names[64:]]]
    rec.calls.clear()
    zfs.inherit_many([], "jocker:txn")
    assert rec.calls == []


def test_sealer_unmounts_then_sets_readonly_in_order_on_its_own_thread():
    rec = Recorder()
    with LayerSealer(ZfsCli(runner=rec)) as sealer:
        sealer.seal("p/jocker/layers/a")
        sealer.seal("p/jocker/layers/b")
    assert [argv for argv, _ in rec.calls] == [
        ["zfs", "unmount", "p/jocker/layers/a"], ["zfs", "set", "readonly=on", "p/jocker/layers/a"],
        ["zfs", "unmount", "p/jocker/layers/b"], ["zfs", "set", "readonly=on", "p/jocker/layers/b"]]
    assert {thread for _, thread in rec.calls} != {threading.current_thread().name}


def test_a_sealing_failure_is_raised_when_the_body_succeeded():
    rec = Recorder(fail_on="readonly=on")
    with pytest.raises(HostCommandError, match="cannot readonly=on"):
        with LayerSealer(ZfsCli(runner=rec)) as sealer:
            sealer.seal("p/jocker/layers/a")


def test_the_body_failure_wins_and_the_sealer_is_waited_for():
    rec = Recorder(fail_on="readonly=on")
    with pytest.raises(ValueError, match="layer 2 is corrupt"):
        with LayerSealer(ZfsCli(runner=rec)) as sealer:
            sealer.seal("p/jocker/layers/a")
            raise ValueError("layer 2 is corrupt")
    # the worker finished before the caller goes on to destroy the layers
    assert [argv[1] for argv, _ in rec.calls] == ["unmount", "set"]
    assert not [t for t in threading.enumerate() if t.name.startswith("seal")]
