"""docker-compose 1.29 (Debian's `docker-compose`, docker-py underneath)
driving a live `jocker serve`: the two-service project of tests/api/compose/
from `up -d` to `down -v`, and nothing of it left afterwards."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from apiserver import Api, api_sock, docker_cli  # noqa: F401  (fixtures)
from support import net_objects

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10) as r:
        return r.read().decode()


@pytest.fixture
def compose_project(api_sock, docker_cli, tmp_path, busybox_image, jocker_env):  # noqa: F811
    """compose_project(DIR) -> compose(*args, check=True): docker-compose on a
    copy of tests/api/DIR, as a project of its own; `down -v` afterwards."""
    exe = shutil.which("docker-compose")
    if not exe:
        pytest.skip("needs docker-compose 1.x (apt-get install docker-compose)")
    made = []

    def make(dirname: str):
        project = tmp_path / dirname
        shutil.copytree(HERE / dirname, project)
        env = dict(docker_cli.env, WEB_PORT=str(_free_port()), PYTHONPATH="",
                   COMPOSE_PROJECT_NAME=f"jk{dirname.replace('-', '')}{os.getpid()}")

        def run(*args, check=True, timeout=300, via_jocker=False):
            """via_jocker: `jocker compose ARGS`, which finds the server through
            the address `jocker serve` recorded in the run directory (api_host
            names a socket nobody listens on)."""
            cmd, run_env = [exe, "--ansi", "never", *args], env
            if via_jocker:
                cmd = [sys.executable, "-m", "jocker", "compose", "--ansi", "never", *args]
                run_env = dict(jocker_env, JOCKER_API_HOST=f"unix://{tmp_path}/nobody.sock",
                               WEB_PORT=env["WEB_PORT"], COMPOSE_PROJECT_NAME=env["COMPOSE_PROJECT_NAME"])
            p = subprocess.run(cmd, cwd=project, env=run_env, capture_output=True, text=True,
                               timeout=timeout)
            if check and p.returncode != 0:
                raise AssertionError(f"docker-compose {' '.join(args)} exited {p.returncode}:\n"
                                     f"{p.stdout}\n{p.stderr}")
            return p
        run.project = env["COMPOSE_PROJECT_NAME"]
        run.port = int(env["WEB_PORT"])
        made.append(run)
        return run
    yield make
    for run in made:
        run("down", "-v", "--rmi", "local", "--remove-orphans", check=False)


def _project_objects(api: Api, project: str) -> dict[str, list[str]]:
    label = json.dumps({"label": [f"com.docker.compose.project={project}"]})
    q = urllib.request.quote(label)
    _, cs = api.get(f"/containers/json?all=1&filters={q}")
    _, nets = api.get(f"/networks?filters={q}")
    _, vols = api.get(f"/volumes?filters={q}")
    return {"containers": sorted(n for c in cs for n in c["Names"]),
            "networks": sorted(n["Name"] for n in nets),
            "volumes": sorted(v["Name"] for v in vols["Volumes"] or [])}


def _ps_rows(out: str) -> dict[str, list[str]]:
    """`docker-compose ps`: a header, a dashed rule, then one row per container
    with columns separated by two or more spaces."""
    lines = out.splitlines()
    assert lines[0].split() == ["Name", "Command", "State", "Ports"], out
    assert set(lines[1]) == {"-"}, out
    import re
    return {cols[0]: cols for cols in (re.split(r"\s{2,}", l.strip()) for l in lines[2:] if l.strip())}


def test_compose_project_lifecycle(compose_project, api_sock, jocker):  # noqa: F811
    compose = compose_project("compose")
    p, port = compose.project, compose.port
    api = Api(api_sock)
    host_before = net_objects()
    try:
        compose("up", "-d")
        objs = _project_objects(api, p)
        assert objs == {"containers": [f"/{p}_backend_1", f"/{p}_web_1"],
                        "networks": [f"{p}_default"], "volumes": [f"{p}_shared"]}, objs

        # ps: Name, Command, State, Ports as compose prints them (here through
        # `jocker compose`, which hands over to docker-compose)
        rows = _ps_rows(compose("ps", via_jocker=True).stdout)
        assert sorted(rows) == [f"{p}_backend_1", f"{p}_web_1"]
        assert rows[f"{p}_backend_1"][2] == "Up (healthy)", rows
        assert rows[f"{p}_web_1"][2] == "Up", rows
        assert rows[f"{p}_web_1"][3] == f"127.0.0.1:{port}->80/tcp", rows

        # web published on the host, built from web/Dockerfile, and it reached
        # backend by its service name on the project network; the named
        # volume is shared.
        assert _get(port, "") == "built-web\n"
        backend_host = _get(port, "from-backend").strip()
        assert backend_host.startswith("backend-"), backend_host
        assert _get(port, "shared/stamp") == "fetched\n"
        _, bk = api.get(f"/containers/{p}_backend_1/json")
        assert backend_host == "backend-" + bk["Config"]["Hostname"]
        assert bk["Config"]["Labels"]["com.docker.compose.service"] == "backend"
        assert bk["State"]["Health"]["Status"] == "healthy"
        _, img = api.get(f"/images/{p}_web/json")
        assert img["Config"]["Labels"]["org.example.role"] == "web"             # the Dockerfile's LABEL
        assert img["Config"]["Labels"]["org.example.built-by"] == "compose"     # build: labels:

        # logs: each line prefixed by its container's service_N
        logs = [tuple(x.strip() for x in l.split("|", 1)) for l in
                compose("logs", "--no-color").stdout.splitlines() if "|" in l]
        assert ("backend_1", "backend up") in logs and ("web_1", "web up") in logs, logs

        # a second `up -d` finds both up to date (compose's config-hash label
        # read back as written); `run --rm` a one-off container on the network
        again = compose("up", "-d").stderr
        assert f"{p}_backend_1 is up-to-date" in again and f"{p}_web_1 is up-to-date" in again, again
        oneoff = compose("run", "--rm", "-T", "backend", "wget", "-qO-", "http://web/").stdout
        assert oneoff == "built-web\n"

        # scale: a second backend, reachable from web by its container name
        compose("up", "-d", "--scale", "backend=2")
        rows = _ps_rows(compose("ps").stdout)
        assert sorted(rows) == [f"{p}_backend_1", f"{p}_backend_2", f"{p}_web_1"], rows
        second = compose("exec", "-T", "web", "wget", "-qO-", f"http://{p}_backend_2:8080/").stdout
        _, bk2 = api.get(f"/containers/{p}_backend_2/json")
        assert second.strip() == "backend-" + bk2["Config"]["Hostname"]
        by_service = compose("exec", "-T", "web", "wget", "-qO-", "http://backend:8080/").stdout
        assert by_service.startswith("backend-"), by_service

        # restart: every container comes back, web serves again
        started = {n: api.get(f"/containers/{n}/json")[1]["State"]["StartedAt"] for n in rows}
        compose("restart", "-t", "1")
        for n in rows:
            _, c = api.get(f"/containers/{n}/json")
            assert c["State"]["Running"] and c["State"]["StartedAt"] != started[n], (n, c["State"])
        deadline = time.time() + 30
        while True:
            try:
                assert _get(port, "") == "built-web\n"
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

        compose("down", "-v", "--rmi", "local", via_jocker=True)
        assert _project_objects(api, p) == {"containers": [], "networks": [], "volumes": []}
        assert f"{p}_web" not in jocker("images", "--format", "{{.Repository}}").stdout
        assert f"{p}_shared" not in jocker("volume", "ls", "-q").stdout
        assert f"{p}_default" not in jocker("network", "ls", "--format", "{{.Name}}").stdout
        assert net_objects() == host_before, "host network objects left behind"
    finally:
        api.close()


def test_compose_networks_links_mounts(compose_project, api_sock):  # noqa: F811
    """Two user networks with aliases (the second is connected after create),
    links, network and volume labels, the long volume syntax and tmpfs."""
    compose = compose_project("compose-nets")
    p = compose.project
    api = Api(api_sock)
    host_before = net_objects()
    try:
        compose("up", "-d")
        assert _project_objects(api, p) == {
            "containers": [f"/{p}_app_1", f"/{p}_db_1"], "networks": [f"{p}_back", f"{p}_front"],
            "volumes": [f"{p}_dbdata"]}
        _, front = api.get(f"/networks/{p}_front")
        assert front["Labels"]["org.example.tier"] == "front"
        _, vol = api.get(f"/volumes/{p}_dbdata")
        assert vol["Labels"]["org.example.keep"] == "no"
        _, app = api.get(f"/containers/{p}_app_1/json")
        nets = app["NetworkSettings"]["Networks"]
        assert sorted(nets) == [f"{p}_back", f"{p}_front"]
        assert "application" in nets[f"{p}_front"]["Aliases"] and "app" in nets[f"{p}_front"]["Aliases"]

        def in_app(*argv):
            return compose("exec", "-T", "app", *argv).stdout
        # db by its service name, its alias and the link's alias, over the
        # second network; the read-only named volume and the tmpfs
        for name in ("db", "database", "legacydb"):
            assert in_app("wget", "-qO-", f"http://{name}:8080/x") == "db-data\n", name
        assert in_app("cat", "/ro/x") == "db-data\n"
        assert compose("exec", "-T", "app", "touch", "/ro/y", check=False).returncode != 0
        assert "/scratch" in in_app("sh", "-c", "grep ' /scratch ' /proc/mounts")
        # `jocker compose` exits with the tool's status
        assert compose("exec", "-T", "app", "sh", "-c", "exit 3", check=False, via_jocker=True).returncode == 3

        compose("down", "-v")
        assert _project_objects(api, p) == {"containers": [], "networks": [], "volumes": []}
        assert net_objects() == host_before, "host network objects left behind"
    finally:
        api.close()


def _jocker_compose(env, *args):
    return subprocess.run([sys.executable, "-m", "jocker", "compose", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_jocker_compose_without_a_server_or_a_tool(tmp_path):
    """One line naming what is missing: the server (125), the tool (127)."""
    env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]), JOCKER_RUNDIR=str(tmp_path),
               JOCKER_API_HOST=f"unix://{tmp_path}/nobody.sock", JOCKER_CONFIG=str(tmp_path / "jocker.conf"))
    (tmp_path / "jocker.conf").write_text("")
    if shutil.which("docker-compose"):
        p = _jocker_compose(env, "ps")
        assert p.returncode == 125, p
        assert p.stderr.strip().splitlines() == [
            f"Error: jocker compose: no jocker API server answers on unix://{tmp_path}/nobody.sock "
            "(start one with `jocker serve`; FreeBSD: sysrc jocker_api_enable=YES && service jocker start)"]
    from jocker.dockerapi.compose import PLUGIN_DIRS
    if any(os.path.exists(os.path.join(d, "docker-compose")) for d in PLUGIN_DIRS):
        pytest.skip("a docker compose plugin is installed system-wide")
    env.update(PATH=os.path.dirname(sys.executable), HOME=str(tmp_path))
    p = _jocker_compose(env, "ps")
    assert p.returncode == 127, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Compose tool found" in lines[0], lines
    assert "pkg install docker-compose" in lines[0] and "sysutils/docker-compose" in lines[0]
    assert "apt-get install docker-compose" in lines[0]
