"""The process child: jail_attach, credentials, workdir, PATH lookup, exec (items 5, 6).

jexec(8) exits 1 for its own failures (usr.sbin/jexec/jexec.c: err(1, ...)
after getpwnam, chdir and execvp), so `run img nosuchcmd` gave 1. The child
here looks the command up on the container's PATH after jail_attach(2) has
chrooted it into the jail, and exits 127 / 126 like Docker. A recording
layer stands in for the system calls; after "jail_attach" it answers file
questions from a directory playing the jail's root, as the chroot would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jocker.containers.identity import Identity
from jocker.runtime import jail_exec as je

WWW = Identity(80, 80, (80, 90), "/var/www", "www")


class Recording:
    def __init__(self, root):
        self.root = str(root)
        self.calls = []
        self.attached = False

    def _host(self, path):
        assert self.attached, "a file looked up before jail_attach would be the host's"
        return self.root + path

    def jail_attach(self, jid):
        self.calls.append(("jail_attach", jid))
        self.attached = True

    def __getattr__(self, op):
        if op in ("chdir", "setgroups", "setgid", "setuid", "mkdir_p"):
            return lambda *a: self.calls.append((op, *a))
        raise AttributeError(op)

    def is_file(self, path):
        return os.path.isfile(self._host(path))

    def can_exec(self, path):
        return os.access(self._host(path), os.X_OK)

    def execve(self, path, argv, env):
        self.calls.append(("execve", path, argv, env))
        raise SystemExit("exec'd")


@pytest.fixture
def root(tmp_path):
    for d in ("bin", "usr/local/bin"):
        (tmp_path / d).mkdir(parents=True)
    for name, mode in (("bin/sh", 0o755), ("usr/local/bin/app", 0o755), ("bin/noexec", 0o644)):
        (tmp_path / name).write_text("")
        os.chmod(tmp_path / name, mode)
    return tmp_path


def plan(argv, env=None, workdir="/srv", who=WWW):
    return je.make_plan(7, who, workdir, argv, env if env is not None else {"PATH": "/usr/local/bin:/bin"})


def test_steps_order_root_makes_workdir_then_drops_privileges():
    assert je.steps(plan(["app"])) == [
        ("jail_attach", 7), ("chdir", "/"), ("mkdir_p", "/srv"), ("setgroups", [80, 90]),
        ("setgid", 80), ("setuid", 80), ("chdir", "/srv"),
        ("exec", ["app"], {"PATH": "/usr/local/bin:/bin"})]
    assert ("mkdir_p", "/") not in je.steps(plan(["app"], workdir="/"))


def test_calls_resolve_the_command_on_the_containers_path(root):
    layer = Recording(root)
    with pytest.raises(SystemExit):
        je.execute(je.steps(plan(["app", "-x"])), layer)
    assert layer.calls == [
        ("jail_attach", 7), ("chdir", "/"), ("mkdir_p", "/srv"), ("setgroups", [80, 90]),
        ("setgid", 80), ("setuid", 80), ("chdir", "/srv"),
        ("execve", "/usr/local/bin/app", ["app", "-x"], {"PATH": "/usr/local/bin:/bin"})]


def test_default_path_when_the_env_has_none(root):
    layer = Recording(root)
    with pytest.raises(SystemExit):
        je.execute(je.steps(plan(["sh"], env={})), layer)
    assert layer.calls[-1][1] == "/bin/sh"


@pytest.mark.parametrize("argv0,code,msg", [
    ("nosuchcmd", 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
    ("noexec", 126, 'exec: "noexec": permission denied')])
def test_docker_exit_codes(root, argv0, code, msg):
    layer = Recording(root)
    with pytest.raises(je.ExecFailed) as info:
        je.execute(je.steps(plan([argv0], env={"PATH": "/bin"})), layer)
    assert (info.value.code, str(info.value)) == (code, msg)
    assert not any(c[0] == "execve" for c in layer.calls)


def test_run_reports_one_line_and_the_code(root, capfd):
    assert je.run(plan(["nosuchcmd"]), Recording(root)) == 127
    assert capfd.readouterr().err == 'jocker: exec: "nosuchcmd": executable file not found in $PATH\n'


def test_failed_chdir_is_126(root):
    class NoDir(Recording):
        def chdir(self, path):
            self.calls.append(("chdir", path))
            if path != "/":
                raise FileNotFoundError(2, "No such file or directory")
    with pytest.raises(je.ExecFailed) as info:
        je.execute(je.steps(plan(["app"])), NoDir(root))
    assert info.value.code == 126 and "working directory /srv" in str(info.value)


def test_the_script_form_runs_and_fails_cleanly_off_freebsd():
    """`jocker exec` runs this file with python3 -S; off FreeBSD there is no
    jail_attach(2), which must be an engine error (125), not a crash."""
    p = plan(["sh"])
    res = subprocess.run([sys.executable, "-S", je.__file__, json.dumps(p)],
                         capture_output=True, text=True, timeout=30)
    if sys.platform.startswith("freebsd"):
        pytest.skip("on FreeBSD jail 7 may exist; the FreeBSD tier covers this")
    assert res.returncode == 125
    assert "jail_attach(2) exists only on FreeBSD" in res.stderr
