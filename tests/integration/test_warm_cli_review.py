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


def _request_bytes(jocker, argv, identity_patch=None) -> bytes:
    """A client's request, made by the client's own code in a subprocess."""
    code = ("import sys, os, marshal\nfrom jocker.warm import client\n"
            "data = client._request(sys.argv[2:], os.getcwd())\n"
            "if sys.argv[1] == 'other':\n"
            "    d = marshal.loads(data); d['identity'] = dict(d['identity'], exe='/other/python');"
            " data = marshal.dumps(d)\n"
            "sys.stdout.buffer.write(data)\n")
    return subprocess.run([sys.executable, "-c", code, identity_patch or "same", *argv], env=jocker.env,
                          capture_output=True, check=True).stdout


def _send(s: socket.socket, data: bytes) -> None:
    data = b"%010d" % len(data) + data
    s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(bytearray(
        b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))))))])


def test_commands_queued_when_the_server_stops_listening_are_told_to_go_local(jocker, busybox_image, warm,
                                                                              tmp_path):
    """A command from another checkout makes the server stop listening; a
    command already connected behind it (in the listen backlog) must be
    told `fallback`, not dropped: its client then reports "went away ...
    outcome unknown" and 125 for a command that never ran."""
    server = _server(warm)
    other = _request_bytes(jocker, ["ps"], "other")
    mine = _request_bytes(jocker, ["ps"])
    path = os.path.join(warm, "warmcli.sock")
    os.kill(server, signal.SIGSTOP)
    try:
        a = socket.socket(socket.AF_UNIX)
        a.connect(path)
        _send(a, other)
        b = socket.socket(socket.AF_UNIX)
        b.connect(path)
        _send(b, mine)
    finally:
        os.kill(server, signal.SIGCONT)
    a.settimeout(10)
    b.settimeout(10)
    assert a.recv(100).startswith(b"fallback other-jocker")
    try:
        got = b.recv(100)
    except OSError as e:
        got = repr(e).encode()
    a.close()
    b.close()
    assert got.startswith(b"fallback") or got.startswith(b"pid "), got
