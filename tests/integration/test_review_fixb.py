"""Regressions for review items 2, 3, 7 and 10 (review-notes 08:12): each
test reproduces the original failure and asserts the fixed behaviour."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_serve_never_unlinks_what_is_not_a_socket(jocker, tmp_path, kind):
    path = tmp_path / "api.sock"
    if kind == "file":
        path.write_text("precious\n")
    else:
        path.mkdir()
        (path / "inside").write_text("precious\n")
    proc = subprocess.run([sys.executable, "-m", "jocker", "serve", "-H", f"unix://{path}", "--group", "root"],
                          env=jocker.env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 125, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "not a socket" in err, err
    if kind == "file":
        assert path.read_text() == "precious\n"
    else:
        assert (path / "inside").read_text() == "precious\n"
