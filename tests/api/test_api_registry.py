"""pull and push through the Engine API against a real registry (Debian's
docker-registry on loopback, optionally behind a token server): the stock
docker CLI (`docker login/push/pull`, credentials sent as X-Registry-Auth)
and docker-py (`images.push(stream=True, decode=True)`, `images.pull`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from apiserver import api, api_sock, docker_cli  # noqa: F401  (fixtures)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from registry_fixtures import Proxy, registry  # noqa: E402,F401  (registry: a fixture)


@pytest.fixture
def token_registry(registry):
    """The registry behind Bearer-token auth: user u, password p."""
    p = Proxy(registry.host, token_auth=True)
    yield p
    p.stop()


def _server_stored(host: str, jocker_env) -> bool:
    """Whether the API server's own credential store holds host (it must
    not: the client keeps its credentials, as with dockerd)."""
    base = jocker_env.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        return host in json.loads(Path(base, "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return False


def test_docker_cli_push_pull(docker_cli, registry, api):
    name = f"{registry.host}/apicli/bb:1"
    docker_cli("tag", "busybox", name)
    try:
        out = docker_cli("push", name).stdout
        assert f"The push refers to repository [{registry.host}/apicli/bb]" in out
        assert "1: digest: sha256:" in out
        digest = out.split("digest: ")[1].split()[0]
        docker_cli("rmi", name)
        out = docker_cli("pull", name).stdout
        assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {name}" in out
        assert docker_cli("images", "-q", name).stdout.strip()
        out = docker_cli("pull", name).stdout
        assert f"Status: Image is up to date for {name}" in out
        p = docker_cli("pull", f"{registry.host}/apicli/nothing:1", check=False)
        assert p.returncode == 1 and "nothing" in p.stderr
    finally:
        docker_cli("rmi", "-f", name, check=False)


def test_docker_cli_login_then_push_pull_with_token_auth(docker_cli, token_registry, jocker_env):
    host = token_registry.host
    name = f"{host}/apitok/bb:1"
    docker_cli("tag", "busybox", name)
    try:
        p = docker_cli("push", name, check=False)
        assert p.returncode == 1 and "401" in p.stderr
        p = docker_cli("login", "-u", "u", "--password-stdin", host, input="wrong\n", check=False)
        assert p.returncode == 1 and "401" in p.stderr
        p = docker_cli("login", "-u", "u", "--password-stdin", host, input="p\n")
        assert "Login Succeeded" in p.stdout
        assert not _server_stored(host, jocker_env)
        assert "1: digest: sha256:" in docker_cli("push", name).stdout
        docker_cli("rmi", name)
        assert "Downloaded newer image" in docker_cli("pull", name).stdout
        assert any(s.startswith("GET /token") for s in token_registry.seen)
        docker_cli("logout", host)
        docker_cli("rmi", name)
        p = docker_cli("pull", name, check=False)       # no X-Registry-Auth now: refused
        assert p.returncode == 1 and "401" in p.stderr
    finally:
        docker_cli("rmi", "-f", name, check=False)


def test_docker_py_push_stream_and_pull_with_auth_config(api_sock, token_registry):
    docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker.DockerClient(base_url=f"unix://{api_sock}", version="auto", timeout=120)
    repo = f"{token_registry.host}/apipy/bb"
    creds = {"username": "u", "password": "p"}
    try:
        client.images.get("busybox").tag(repo, "2")
        events = list(client.images.push(repo, "2", stream=True, decode=True, auth_config=creds))
        assert events[0]["status"].startswith("The push refers to repository")
        assert not any("error" in e for e in events), events
        aux = [e["aux"] for e in events if "aux" in e]
        assert aux and aux[-1]["Tag"] == "2" and aux[-1]["Digest"].startswith("sha256:")
        progress = [e for e in events if e.get("status") == "Pushing"]
        assert all(set(e["progressDetail"]) == {"current", "total"} for e in progress)
        client.images.remove(f"{repo}:2")
        img = client.images.pull(repo, tag="2", auth_config=creds)
        assert f"{repo}:2" in img.tags
        events = list(client.api.pull(repo, tag="2", stream=True, decode=True, auth_config=creds))
        assert events[-1]["status"] == f"Status: Image is up to date for {repo}:2"
        # wrong credentials: an error in the stream or a status, never a hang
        with pytest.raises(docker.errors.APIError):
            client.images.pull(repo, tag="2", auth_config={"username": "u", "password": "nope"})
    finally:
        try:
            client.images.remove(f"{repo}:2", force=True)
        except docker.errors.APIError:
            pass
        client.close()


def test_api_push_follows_push_compression(jocker_env, registry, busybox_image):
    """The API's push has no compression parameter: a server whose
    configuration says push_compression=zstd pushes zstd layers."""
    import shutil
    import tempfile
    import urllib.request
    from apiserver import Api, _start_server, stop_server
    if not shutil.which("zstd"):
        pytest.skip("needs zstd (sh examples/install-host-deps.sh)")
    work = tempfile.mkdtemp(prefix="jz-", dir="/tmp")        # a short socket path
    proc = _start_server({**jocker_env, "JOCKER_PUSH_COMPRESSION": "zstd"}, os.path.join(work, "api.sock"),
                         os.path.join(work, "serve.log"))
    repo = f"{registry.host}/apizstd/bb"
    client = Api(os.path.join(work, "api.sock"))
    try:
        resp, _ = client.post(f"/images/{busybox_image}/tag?repo={repo}&tag=1")
        assert resp.status == 201
        resp, body = client.post(f"/images/{repo}/push?tag=1", raw=True)
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        assert resp.status == 200 and not any("error" in e for e in events), events
        req = urllib.request.Request(f"http://{registry.host}/v2/apizstd/bb/manifests/1",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        manifest = json.loads(urllib.request.urlopen(req).read())
        assert {l["mediaType"] for l in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    finally:
        client.delete(f"/images/{repo}:1")
        client.close()
        log = stop_server(proc, work)
    assert "Traceback" not in log, log[-4000:]
