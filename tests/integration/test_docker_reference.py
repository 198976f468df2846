"""jocker side by side with the real Docker Engine (issue 14): the same
commands on the same busybox rootfs, compared on what a user sees (exit
status, output, the error line).

Docker is Debian's docker.io (20.10, `examples/install-host-deps.sh`),
started per session with its own data root, exec root and socket,
`--iptables=false --bridge=none --storage-driver=vfs`, and the classic
builder (DOCKER_BUILDKIT=0). Skipped when dockerd is not installed or does
not start. Where jocker follows current Docker (BuildKit) instead of 20.10,
the case is not here but in test_docker_compat.py, with its source.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile

import pytest

from support import private_docker

pytestmark = pytest.mark.skipif(not shutil.which("dockerd") or not shutil.which("docker"),
                                reason="needs Docker as the reference (apt-get install docker.io)")


@pytest.fixture(scope="session")
def docker(busybox_rootfs):
    """A private dockerd; returns a runner like the `jocker` fixture."""
    with private_docker() as run:
        tarball = os.path.join(run.work, "busybox.tar")
        with tarfile.open(tarball, "w") as tar:
            tar.add(busybox_rootfs, arcname=".")
        run("import", tarball, "busybox:latest")
        yield run


@pytest.fixture
def both(docker, jocker, busybox_image, cleanup):
    """both(*args): (docker's, jocker's) CompletedProcess for the same arguments."""
    names: list[str] = []

    def run(*args, name: str | None = None):
        if name:
            names.append(name)
            cleanup.append(name)
        return docker(*args, check=False), jocker(*args, check=False)
    yield run
    for n in names:
        docker("rm", "-f", n, check=False)


@pytest.mark.parametrize("args", [
    ("-h", "box", "busybox", "env"),
    ("-h", "box", "-u", "nobody", "-e", "FOO=1", "busybox", "env"),
    ("-h", "box", "-u", "4321", "busybox", "env"),
    ("-h", "box", "-e", "HOME=/srv", "busybox", "env"),
    ("-u", "nobody", "busybox", "id"),
    ("-u", "65534:0", "busybox", "id"),
    ("--group-add", "nogroup", "--group-add", "4242", "busybox", "id"),
])
def test_environment_and_identity(both, args):
    d, j = both("run", "--rm", *args)
    assert (j.returncode, j.stdout) == (d.returncode, d.stdout)


def test_unknown_user_and_group(both):
    for args in (("-u", "nosuchuser"), ("-u", "nobody:nosuch"), ("--group-add", "nosuchgroup")):
        d, j = both("run", "--rm", *args, "busybox", "true")
        assert (j.returncode, d.returncode) == (125, 125)
        message = re.search(r"[Uu]nable to find .*? file", d.stderr).group()
        assert message in j.stderr, (d.stderr, j.stderr)


def test_env_file(both, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_bytes(b"\xef\xbb\xbfA=one  \r\n  B= two\n# C=no\n\nD=\"q\" \n")
    d, j = both("run", "--rm", "--env-file", env_file, "busybox", "sh", "-c", 'printf "[%s]" "$A" "$B" "$D"')
    assert (j.returncode, j.stdout) == (d.returncode, d.stdout) == (0, '[one  ][ two]["q" ]')
    env_file.write_text("BAD KEY=1\n")
    d, j = both("run", "--rm", "--env-file", env_file, "busybox", "true")
    assert j.returncode == d.returncode == 125
    assert "variable 'BAD KEY' contains whitespaces" in d.stderr and "variable 'BAD KEY' contains whitespaces" in j.stderr


@pytest.mark.parametrize("template", [
    "{{.Config.Cmd}}", "{{.Config.Labels}}", "{{json .Config.Cmd}}", "{{json .Config.Labels}}",
    '{{index .Config.Labels "b"}} {{index .Config.Cmd 2}}', '{{join .Config.Cmd "+"}}',
    '{{split "a:b:c" ":"}} {{len .Config.Cmd}}', '{{upper .Name}} {{lower "ABC"}} {{title "exit code"}}',
    "{{range .Config.Cmd}}<{{.}}>{{end}}", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{if .State.Running}}up{{else if eq .State.ExitCode 3}}three{{else}}down{{end}}",
    "{{.State.ExitCode}} {{.State.Running}} {{.Config.Labels.zz}} {{.HostConfig.AutoRemove}}",
    "{{with .Config.User}}{{.}}{{else}}root{{end}} {{printf \"%s:%d\" .Name .State.ExitCode}}",
    "{{.NoSuchKey}}", "{{.Config.Cmd", "{{nosuchfunc .}}",
    "{{.Config.Entrypoint}} {{json .Config.Entrypoint}} {{.Config.Volumes}} {{len .Config.Entrypoint}}",
])
def test_inspect_format(both, docker, jocker, template):
    for run in (docker, jocker):
        run("rm", "-f", "ref-fmt", check=False)
        run("run", "--name", "ref-fmt", "-l", "b=2", "-l", "a=1", "busybox", "sh", "-c", "exit 3", check=False)
    d, j = both("inspect", "--format", template, "ref-fmt", name="ref-fmt")
    # (docker also prints an empty line on stdout when the template fails)
    assert (j.returncode, j.stdout.strip()) == (d.returncode, d.stdout.strip()), (d.stderr, j.stderr)


def test_ps_command_and_widths(both, docker, jocker):
    for run in (docker, jocker):
        for n in ("ref-ps1", "ref-ps2"):
            run("rm", "-f", n, check=False)
        run("run", "--name", "ref-ps1", "busybox", "sh", "-c", "exit 3", check=False)
        run("run", "--name", "ref-ps2", "busybox", "echo", "a long argument list here")
    for extra in ((), ("--no-trunc",)):
        d, j = both("ps", "-a", *extra, "--filter", "name=ref-ps", "--format", "{{.Names}} {{.Command}}")
        assert sorted(j.stdout.splitlines()) == sorted(d.stdout.splitlines())
    d, j = both("ps", "-a", "--filter", "name=ref-ps1", "--format", "table {{.Image}}\t{{.Command}}\t{{.Names}}",
                name="ref-ps2")
    assert j.stdout == d.stdout
    d, j = both("ps", "-a", "--filter", "name=ref-ps1", name="ref-ps1")
    assert j.stdout.splitlines()[0][:38] == d.stdout.splitlines()[0][:38]   # CONTAINER ID, IMAGE, COMMAND


@pytest.mark.parametrize("args", [("run",), ("rm",), ("inspect",), ("create",), ("run", "--no-such-flag", "x")])
def test_exit_codes_of_bad_command_lines(both, args):
    d, j = both(*args)
    assert j.returncode == d.returncode


def test_classic_builder_agreements(docker, jocker, busybox_image, tmp_path, own_images):
    """The classic builder's multi-source refusal and COPY --from ownership."""
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    for line in ("COPY a.txt b.txt /dest", "COPY *.txt /dest", "ADD a.txt b.txt /dest", "COPY a.txt b.txt ."):
        (tmp_path / "Dockerfile").write_text(f"FROM busybox:latest\n{line}\n")
        d, j = docker("build", "-q", tmp_path, check=False), jocker("build", "-q", tmp_path, check=False)
        assert j.returncode == d.returncode == 1
        assert d.stderr.strip().splitlines()[-1] in j.stderr
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest AS src\n"
        "RUN mkdir -p /d/sub && echo x > /d/sub/f && chown -R 1234:5678 /d/sub"
        " && echo y > /g && chown 42:43 /g && chmod 640 /g\n"
        "FROM busybox:latest\nCOPY --from=src /d /d\nCOPY --from=src /g /g\nCOPY --from=src --chown=7:8 /g /h\n"
        "CMD stat -c '%u:%g %a %n' /d/sub /d/sub/f /g /h\n")
    out = []
    for run in (docker, jocker):
        run("build", "-q", "-t", "ref-own", tmp_path)
        out.append(run("run", "--rm", "ref-own").stdout)
        run("rmi", "-f", "ref-own", check=False)
    assert out[0] == out[1]
