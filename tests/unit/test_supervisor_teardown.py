"""A `--rm` supervisor on a runtime whose teardown is apart from the storage
(Linux) runs that teardown (the container's network: netns, veth, port
table) in a forked child beside the removal of its file system. The child
must finish what it started, as the supervisor did when the teardown ran in
it: a SIGTERM (a stop, a `kill` of the supervisor's group) arriving then
must not leave half a network behind."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from jocker.containers.supervisor import Supervisor

if not hasattr(os, "fork"):
    pytest.skip("needs fork", allow_module_level=True)


class _BlockingTeardown:
    """A runtime whose destroy() says it started, then waits to be let go."""
    teardown_apart_from_storage = True

    def __init__(self, done: str):
        self.started_r, self.started_w = os.pipe()
        self.go_r, self.go_w = os.pipe()
        self.done = done

    def destroy(self, spec) -> None:
        os.write(self.started_w, b"s")
        os.read(self.go_r, 1)
        with open(self.done, "w") as f:
            f.write("torn down\n")


def _supervisor(tmp_path) -> Supervisor:
    d = str(tmp_path)
    job = {"runtime": "linux" if sys.platform.startswith("linux") else "jail", "rundir": d,
           "log_path": os.path.join(d, "log"),
           "spec": {"id": "a" * 64, "name": "t", "rootfs": "/nonexistent", "rundir": d, "argv": ["/bin/sh"]}}
    return Supervisor(job, -1)


def test_teardown_beside_storage_survives_a_sigterm(tmp_path):
    sup = _supervisor(tmp_path)
    before = signal.signal(signal.SIGTERM, sup._on_stop)    # as Supervisor.run() sets it
    try:
        drv = _BlockingTeardown(str(tmp_path / "done"))
        sup.driver = drv
        pid = sup._teardown_beside()
        assert pid
        assert os.read(drv.started_r, 1) == b"s"        # the child is inside destroy()
        os.kill(pid, signal.SIGTERM)
        os.write(drv.go_w, b"g")
        _, status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "done").read_text() == "torn down\n"
