"""The supervisor's log writer on a full filesystem (issue 9, item 8): a
failed write is counted and retried, never fatal, and nothing is reordered."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from jocker.containers.logwriter import LogWriter

pytestmark = pytest.mark.reliability


def test_dev_full_is_counted_not_fatal():
    w = LogWriter("/dev/full")
    for i in range(5):
        w.write("stdout", f"line {i}\n".encode())
    assert w.failed == 5 and w.dropped == 0 and len(w.pending) > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_filesystem_then_space_comes_back(tmp_path):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "jlogfull", str(tmp_path)], check=True)
    w = None
    try:
        w = LogWriter(str(tmp_path / "ctr.log"))
        filler = tmp_path / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"x" * 4096)
            except OSError:
                pass
        for i in range(50):
            w.write("stdout", f"line {i}\n".encode())
        assert w.failed > 0
        filler.unlink()                     # space comes back
        w.write("stderr", b"after\n")
        assert not w.pending
        lines = [json.loads(l) for l in (tmp_path / "ctr.log").read_text().splitlines()]
        assert [l["log"] for l in lines] == [f"line {i}\n" for i in range(50)] + ["after\n"]
    finally:
        if w:
            os.close(w.fd)
        subprocess.run(["umount", "-l", str(tmp_path)], check=False)
