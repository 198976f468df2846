"""Review of the warm CLI (jocker/warm/): what a served command must not do
that the same command run locally would not do."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from test_warm_cli import OFF, WARM, _server, _serving, warm  # noqa: F401 - the fixture

PLANT = "open({marker!r}, 'a').write(__name__ + '\\n')\nraise ImportError('planted')\n"


def _console_script(tmp_path) -> str:
    """What pip writes for `jocker = jocker.warm.client:main`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "jocker"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom jocker.warm.client import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)
    return str(script)


def test_a_served_command_never_imports_from_the_callers_cwd(jocker, busybox_image, warm, tmp_path):
    """The server runs with `-c`, so its sys.path[0] is '' (the cwd); its
    child chdirs to the caller's directory and any module it imports lazily
    was looked up there first. Run from the console script, the local path
    never searches the cwd: a module planted in /tmp by another user would
    run as root only when served."""
    script = _console_script(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    marker = tmp_path / "imported"
    have = set(sys.stdlib_module_names)
    for name in ("ssl", "http", "tarfile", "gzip", "queue", "socketserver", "email", "getpass", "netrc",
                 "shlex", "pwd", "grp", "glob", "difflib", "pprint", "csv", "mimetypes", "concurrent"):
        assert name in have
        (cwd / f"{name}.py").write_text(PLANT.format(marker=str(marker)))
    for env in (OFF, WARM):
        for argv in (["run", "--rm", "no-such-image-here", "true"], ["run", "--rm", busybox_image, "true"],
                     ["ps", "-a", "--format", "json"], ["images", "--format", "json"]):
            subprocess.run([script, *argv], env={**jocker.env, **env}, cwd=cwd, capture_output=True,
                           timeout=120)
        assert not marker.exists(), (env, marker.read_text())
