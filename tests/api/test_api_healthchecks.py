"""Healthchecks through `jocker serve` with the stock docker CLI: the
--health-* flags arrive as the create body's Healthcheck, and `docker ps`,
`docker ps --filter health=` and `docker inspect` show what the supervisor
recorded (the engine facade's list and inspect, unchanged by the server)."""

from __future__ import annotations

import json
import time

from apiserver import api_cleanup, api_sock, docker_cli  # noqa: F401  (fixtures)


def _wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_docker_cli_health_flags_ps_and_inspect(docker_cli, busybox_image, api_cleanup):
    api_cleanup += ["api-hc"]
    docker_cli("run", "-d", "--name", "api-hc", "--health-cmd", "echo up", "--health-interval", "200ms",
               "--health-retries", "2", busybox_image, "sleep", "300")
    cfg = json.loads(docker_cli("inspect", "api-hc").stdout)[0]["Config"]["Healthcheck"]
    assert cfg["Test"] == ["CMD-SHELL", "echo up"] and cfg["Interval"] == 200_000_000 and cfg["Retries"] == 2

    def status():
        return docker_cli("inspect", "--format", "{{.State.Health.Status}}", "api-hc").stdout.strip()
    assert _wait(lambda: status() == "healthy")
    health = json.loads(docker_cli("inspect", "--format", "{{json .State.Health}}", "api-hc").stdout)
    assert health["FailingStreak"] == 0 and health["Log"][-1]["Output"] == "up\n"
    assert health["Log"][-1]["ExitCode"] == 0
    ps = docker_cli("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}").stdout
    assert any(line.startswith("api-hc Up ") and line.endswith("(healthy)") for line in ps.splitlines())
    assert "api-hc" not in docker_cli("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout
