"""`jocker compose`: which tool, which socket, which environment (pure
parts of jocker/dockerapi/compose.py; the end-to-end run is in
tests/api/test_api_compose.py)."""

from __future__ import annotations

import os
import socket

import pytest

from jocker.dockerapi import compose as C
from jocker.errors import CommandNotFound, JockerError


def test_tool_on_path_first_then_the_users_plugin(tmp_path):
    assert C.find_tool(lambda name: "/opt/bin/" + name) == ["/opt/bin/docker-compose"]
    plugin = tmp_path / ".docker" / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    assert C.find_tool(lambda name: None, str(tmp_path)) == [str(plugin)]


def test_no_tool_names_the_packages(tmp_path):
    if any(os.path.exists(os.path.join(d, "docker-compose")) for d in C.PLUGIN_DIRS):
        pytest.skip("a docker compose plugin is installed system-wide")
    with pytest.raises(CommandNotFound) as e:
        C.find_tool(lambda name: None, str(tmp_path))
    assert "sysutils/docker-compose" in str(e.value) and "apt-get install docker-compose" in str(e.value)


def test_handover_points_docker_host_at_jocker():
    argv, env = C.handover(["docker-compose", "up"], {"DOCKER_HOST": "tcp://elsewhere:2376",
                                                      "DOCKER_CONTEXT": "prod", "DOCKER_TLS_VERIFY": "1",
                                                      "PATH": "/bin", "DOCKER_BUILDKIT": "1"},
                               "unix:///var/run/jocker.sock")
    assert argv == ["docker-compose", "up"]
    assert env == {"DOCKER_HOST": "unix:///var/run/jocker.sock", "PATH": "/bin", "DOCKER_BUILDKIT": "1",
                   "COMPOSE_DOCKER_CLI_BUILD": "0"}


def test_configured_socket_then_a_recorded_server(tmp_path):
    sock = str(tmp_path / "api.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(4)
    try:
        assert C.api_address(f"unix://{sock}", str(tmp_path)) == f"unix://{sock}"
        nobody = f"unix://{tmp_path}/nobody.sock"
        with pytest.raises(JockerError, match="no jocker API server answers on " + nobody):
            C.api_address(nobody, str(tmp_path))
        path = C.record(str(tmp_path), f"unix://{sock}")
        dead = tmp_path / "api-hosts" / "999999999"
        dead.write_text("unix:///gone.sock\n")
        assert C.recorded_hosts(str(tmp_path)) == [f"unix://{sock}"]
        assert C.api_address(nobody, str(tmp_path)) == f"unix://{sock}"
        os.unlink(path)
        assert C.recorded_hosts(str(tmp_path)) == []
    finally:
        srv.close()
