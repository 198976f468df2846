"""The seams: the CLI reaches the engine only through the facade, errors map
to Docker's exit codes in one table, and the create request parses Docker's
JSON and the CLI's flags into the same thing."""

from __future__ import annotations

import ast
import pathlib

import pytest

import jocker
from jocker import errors as E
from jocker.cli.exitcodes import EXIT_CODES, exit_code
from jocker.engine_api.requests import CreateRequest
from jocker.errors import UsageError

CLI = pathlib.Path(jocker.__file__).parent / "cli"

# What a jocker/cli module may import from jocker: the facade, and leaf
# modules with no engine state (errors, formatting, filter syntax).
# jocker.dockerapi is a front end like the CLI (`jocker serve` starts it); it
# reaches the engine only through the facade too.
ALLOWED = {"jocker", "jocker.engine_api", "jocker.errors", "jocker.format", "jocker.filters",
           "jocker.cli", "jocker.__version__", "jocker.dockerapi"}


def _jocker_imports(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["jocker", "cli"][: 2 - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            out += [(node.lineno, n) for n in names if n.startswith("jocker")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("jocker")]
    return out


def _allowed(name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in ALLOWED - {"jocker"}) or name == "jocker"


def test_cli_imports_only_the_facade():
    bad = [f"{p.name}:{line}: {name}" for p in sorted(CLI.glob("*.py"))
           for line, name in _jocker_imports(p) if not _allowed(name)]
    assert not bad, "jocker/cli imports engine rooms directly:\n" + "\n".join(bad)


def test_the_ast_check_sees_relative_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from ..containers import lifecycle\nfrom ..engine_api import open_api\nfrom . import rows\n")
    names = [n for _, n in _jocker_imports(f)]
    assert names == ["jocker.containers", "jocker.engine_api", "jocker.cli.rows"]
    assert not _allowed("jocker.containers") and _allowed("jocker.engine_api.requests")


def test_every_kind_has_an_exit_code():
    assert set(EXIT_CODES) == set(E.KINDS)
    assert exit_code(E.NOT_FOUND, "rm") == 1 and exit_code(E.NOT_FOUND, "run") == 125
    assert exit_code(E.CONFLICT, "create") == 125 and exit_code(E.INVALID, "ps") == 125
    assert exit_code(E.CANNOT_RUN, "run") == 126 and exit_code(E.COMMAND_NOT_FOUND, "run") == 127


def test_errors_carry_their_kind():
    assert E.NotFound("x").kind == E.NOT_FOUND and E.InvalidName("x").kind == E.INVALID
    assert E.HostCommandError(["zfs", "list"], 1, "boom").kind == E.HOST_FAILURE
    assert E.start_failure(127, "no such file").kind == E.COMMAND_NOT_FOUND
    assert E.start_failure("126", "denied").kind == E.CANNOT_RUN
    assert E.start_failure(125, "jail failed").kind == E.ENGINE
    assert E.start_status(E.CannotRun("x")) == 126 and E.start_status(ValueError()) == 125


def test_create_request_from_the_engine_api():
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"], "Env": ["A=1"], "Tty": True,
            "Labels": {"k": "v"}, "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"Binds": ["/srv:/data:ro"], "RestartPolicy": {"Name": "always"},
                           "Memory": 64 << 20, "NanoCpus": 500_000_000, "CapAdd": ["NET_ADMIN"],
                           "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
            "NetworkingConfig": {"EndpointsConfig": {"web": {"Aliases": ["db"],
                                                             "IPAMConfig": {"IPv4Address": "10.0.0.5"}}}},
            "Jocker": {"JailAllow": ["raw_sockets"], "JailSecurelevel": 2}}
    req = CreateRequest.from_api(body, name="web")
    assert (req.name, req.image, req.config.Cmd, req.config.Tty) == ("web", "busybox", ["sh", "-c", "echo hi"], True)
    assert req.host.RestartPolicy["Name"] == "always" and req.host.NanoCpus == 500_000_000
    assert req.host.CapAdd == ["NET_ADMIN"] and req.endpoints["web"].IPv4Address == "10.0.0.5"
    assert req.jocker.JailAllow == ["raw_sockets"] and req.jocker.JailSecurelevel == 2
    again = CreateRequest.from_api(req.to_api(), name="web")
    assert again == req


def test_tmpfs_mounts_become_tmpfs_options():
    """`--mount type=tmpfs` / compose's long tmpfs syntax: HostConfig.Tmpfs."""
    body = {"Image": "x", "HostConfig": {"Tmpfs": {"/a": ""}, "Mounts": [
        {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1777}},
        {"Type": "tmpfs", "Target": "/ro", "ReadOnly": True},
        {"Type": "volume", "Source": "data", "Target": "/data"}]}}
    req = CreateRequest.from_api(body)
    assert req.host.Tmpfs == {"/a": "", "/cache": "size=1048576,mode=1777", "/ro": "ro"}
    assert req.host.Mounts == [{"Type": "volume", "Source": "data", "Target": "/data"}]


@pytest.mark.parametrize("body, message", [
    ({"Image": "x", "Cmd": "echo"}, "invalid Cmd"),
    ({"Image": "x", "HostConfig": {"Memory": "1g"}}, "invalid HostConfig.Memory"),
    ({"Image": "x", "HostConfig": {"Memory": 1024}}, "the minimum is 6m"),
    ({"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, "invalid restart policy"),
    ({"Image": "x", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}}, "conflicting"),
    ({"Image": "x", "Jocker": {"JailSecurelevel": 7}}, "securelevel"),
    ({"Cmd": ["true"]}, "an image is required"),
])
def test_create_request_refuses_bad_bodies(body, message):
    with pytest.raises(E.UsageError) as info:
        CreateRequest.from_api(body)
    assert message in str(info.value) and info.value.kind == E.INVALID


def test_create_request_from_cli_flags(tmp_path):
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=1\n")
    req = CreateRequest.from_cli(
        "busybox", ["sleep", "5"], name="w", env=["A=1", "HOME_X"], env_files=[str(envfile)],
        volumes=["/srv:/srv:ro", "/anon"], entrypoint="", restart="on-failure:3", memory="512m",
        cpus=1.5, labels=["a=b"], publish=["127.0.0.1:8080:80/udp", "9000"], devices=["bpf*"],
        allow=["raw_sockets"], jail_params=["x=1"], securelevel=1, stop_signal="HUP",
        depends_on=["db"], environ={"HOME_X": "/home/x"})
    assert req.config.Env == ["FROM_FILE=1", "A=1", "HOME_X=/home/x"]
    assert req.config.Entrypoint == [] and req.config.Cmd == ["sleep", "5"]
    assert req.host.RestartPolicy == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert req.host.Memory == 512 << 20 and req.host.NanoCpus == 1_500_000_000
    assert req.host.PortBindings == {"80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                     "9000/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert req.host.Binds == ["/srv:/srv:ro", "/anon"] and req.host.Devices[0]["PathOnHost"] == "bpf*"
    assert (req.jocker.DependsOn, req.jocker.JailParams, req.jocker.JailSecurelevel) == (["db"], ["x=1"], 1)
    # The CLI's request is an API request like any other.
    assert CreateRequest.from_api(req.to_api(), name="w") == req


@pytest.mark.parametrize("kw, message", [
    ({"cpus": 0}, "--cpus"), ({"memory": "1k"}, "minimum"), ({"restart": "always:3"}, "restart"),
    ({"publish": ["80:"]}, "publish"), ({"labels": ["=x"]}, "label"), ({"name": "bad/name"}, "name"),
])
def test_cli_flags_are_validated(kw, message):
    with pytest.raises(E.UsageError) as info:
        CreateRequest.from_cli("busybox", **kw)
    assert message in str(info.value)


def test_one_size_parser():
    from jocker.format import parse_size
    assert parse_size("4G") == 4 << 30 and parse_size("512m") == 512 << 20 and parse_size("2GB") == 2 << 30
    assert parse_size("1048576") == 1048576 and parse_size("1.5k") == 1536
    for bad in ("", "x", "G", "1.2.3m", "-5m"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_the_api_server_maps_every_kind_to_a_status():
    from jocker.dockerapi.status import STATUS_BY_KIND, status_for
    assert set(E.KINDS) <= set(STATUS_BY_KIND)
    assert status_for(E.NotFound("x")) == 404 and status_for(E.Conflict("x")) == 409
    assert status_for(E.InvalidName("x")) == 400 and status_for(E.NotImplementedYet("x")) == 501
    assert status_for(ValueError()) == 500


def test_rctl_usage_is_parsed():
    from jocker.containers.stats import parse_rctl_usage
    text = "cputime=12\ndatasize=0\nmemoryuse=1048576\nmaxproc=3\nbogus\nwallclock=x\n"
    assert parse_rctl_usage(text) == {"cputime": 12, "datasize": 0, "memoryuse": 1048576, "maxproc": 3}


@pytest.mark.parametrize("opts", ["x", {"SizeBytes": "abc"}, {"Mode": -1}, {"SizeBytes": 1.5}])
def test_bad_tmpfs_mount_options_are_one_line_errors(opts):
    body = {"Image": "x", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": opts}]}}
    with pytest.raises(UsageError) as e:
        CreateRequest.from_api(body)
    assert "TmpfsOptions" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("auth", [{"auth": 123}, {"auth": ["x"]}, ["x"]])
def test_bad_registry_credentials_are_one_line_errors(auth):
    from jocker.engine_api.images import _credentials
    with pytest.raises(UsageError):
        _credentials(auth)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "1e300"])
def test_points_in_time_must_be_finite_times(value):
    from jocker.times import parse_point
    with pytest.raises(UsageError):
        parse_point(value)
