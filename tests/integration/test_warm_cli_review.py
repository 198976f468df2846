"""Review of the warm CLI (jocker/warm/): what a served command must not do
that the same command run locally would not do."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import subprocess
import sys

import pytest

from test_warm_cli import OFF, WARM, _children, _kill_server, _server, _serving, _started, warm  # noqa: F401

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


def _capless(jocker, image, env, secret):
    """A root caller with every capability dropped (a sandboxed service, a
    container's root without CAP_DAC_OVERRIDE) reads another user's 0600
    file through --env-file."""
    return subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m",
                           "jocker", "run", "--rm", "--env-file", str(secret), image, "sh", "-c",
                           "echo $SECRET"], env={**jocker.env, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_a_root_caller_without_capabilities_gets_none_from_the_server(jocker, busybox_image, warm, tmp_path):
    secret = tmp_path / "secret.env"
    secret.write_text("SECRET=nobodys\n")
    os.chown(secret, 65534, 65534)
    secret.chmod(0o600)
    local = _capless(jocker, busybox_image, OFF, secret)
    served = _capless(jocker, busybox_image, WARM, secret)
    assert local.returncode == 125 and "Permission denied" in local.stderr, local
    assert (served.returncode, served.stdout) == (local.returncode, local.stdout), served
    assert _serving(warm)                   # refused, not disturbed


def _in_private_mounts(jocker, env, tmp_path):
    """`unshare -m` + a tmpfs over the cwd (systemd's PrivateTmp, ip netns
    exec's /etc, a chroot): the caller's ./vars.env is not the server's.
    An image that does not exist: the env file is read first, no container
    is made (a supervisor exec'd in another mount namespace does not see
    the image's mounts on this workbench)."""
    d = tmp_path / "private"
    d.mkdir(exist_ok=True)
    sh = ("mount -t tmpfs tmpfs \"$1\" && cd \"$1\" && echo GREETING=private > vars.env && "
          "exec \"$2\" -m jocker run --rm --env-file vars.env no-such-image-here true")
    return subprocess.run(["unshare", "-m", "--propagation", "slave", "sh", "-c", sh, "sh", str(d),
                           sys.executable], env={**jocker.env, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_a_caller_in_another_mount_namespace_sees_its_own_files(jocker, busybox_image, warm, tmp_path):
    local = _in_private_mounts(jocker, OFF, tmp_path)
    served = _in_private_mounts(jocker, WARM, tmp_path)
    assert local.returncode == 125 and "no-such-image-here" in local.stderr, local
    assert (served.returncode, served.stderr) == (local.returncode, local.stderr), served


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


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_a_capability_less_caller_gets_no_capable_container_from_the_supervisor_fork_server(jocker,
                                                                                           busybox_image):
    """The supervisors' fork-server (left by the first run) has every
    capability; a root caller with none must not get a container that has
    some (it trusted the caller's own account of its context)."""
    jocker("run", "--rm", busybox_image, "true", env=OFF)
    r = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "jocker",
                        "run", "--rm", busybox_image, "grep", "CapEff", "/proc/self/status"],
                       env={**jocker.env, **OFF}, capture_output=True, text=True, timeout=120)
    left = jocker("ps", "-aq").stdout.split()        # a failed start without capabilities may stay
    if left:
        jocker("rm", "-f", *left)
    assert r.returncode != 0 or r.stdout.split() == ["CapEff:", "0000000000000000"], r


def test_a_signal_sent_before_a_refusal_is_not_lost(jocker, busybox_image, warm):
    """The client forwards a signal once its request is sent; when the
    answer is then `fallback` (here: another nice value), the command runs
    locally and that signal must still count, as it would have for a local
    CLI: it was dropped, and the command ran to the end."""
    server = _server(warm)
    os.kill(server, signal.SIGSTOP)
    try:
        p = subprocess.Popen([sys.executable, "-m", "jocker", "ps"], env={**jocker.env, **WARM},
                             preexec_fn=lambda: os.nice(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _client_waits(p.pid):
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
    finally:
        os.kill(server, signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGTERM, (p.returncode, out, err)


def _client_waits(pid: int) -> bool:
    """The client has connected (and then at once sends its request);
    either way a SIGTERM from now on must end it."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


LIB = "/usr/lib/x86_64-linux-gnu/libattr.so.1"


@pytest.mark.skipif(not os.path.exists(LIB), reason=f"needs {LIB} as a library to preload")
def test_a_library_the_first_caller_preloaded_is_not_in_later_served_commands(jocker, busybox_image,
                                                                              jocker_env, wait_for):
    """The server inherits the environment of the command that started it,
    and LD_PRELOAD (PYTHONMALLOC, PYTHONWARNINGS...) take effect at
    interpreter start: a later command without them must not run with them."""
    rundir = jocker_env["JOCKER_RUNDIR"]
    _kill_server(rundir, wait_for)
    jocker("run", "--rm", busybox_image, "true", env={**WARM, "LD_PRELOAD": LIB})
    assert wait_for(lambda: _serving(rundir), 20)
    server = _server(rundir)
    try:
        p = _started(jocker, busybox_image, script="sleep 1")
        maps = "".join(open(f"/proc/{kid}/maps").read() for kid in _children(server))
        p.communicate(timeout=60)
    finally:
        _kill_server(rundir, wait_for)
    assert "libattr.so" not in maps


def test_a_command_whose_client_gave_up_waiting_is_not_started_later(jocker, busybox_image, warm, wait_for,
                                                                     tmp_path):
    """A server too busy to answer within the client's reply timeout (here:
    stopped) makes the client exit 125, 'outcome unknown'; the request is
    still queued on the socket and must not then be run by nobody's
    command (it started, wrote to the closed-over descriptors and made a
    container after the caller had been told otherwise)."""
    from jocker.warm.client import REPLY_TIMEOUT
    server = _server(warm)
    os.kill(server, signal.SIGSTOP)
    try:
        p = subprocess.Popen([sys.executable, "-m", "jocker", "run", "--name", "warm-late", busybox_image,
                              "true"], env={**jocker.env, **WARM}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        p.wait(timeout=REPLY_TIMEOUT + 60)
    finally:
        os.kill(server, signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    assert r.returncode == 125 and "went away" in r.stderr, r
    time.sleep(3)
    names = jocker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    if "warm-late" in names:
        jocker("rm", "-f", "warm-late")
    assert "warm-late" not in names
