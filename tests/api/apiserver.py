"""Fixtures for the Docker Engine API tests: a live `jocker serve` on a
temporary socket, a raw HTTP client for it, and the stock docker CLI
pointed at it. Test modules import them (a conftest.py here would shadow
tests/conftest.py for the modules that import from it by name)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest



class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Api:
    """Tiny client: one keep-alive connection, JSON in and out."""

    def __init__(self, sock: str):
        self.sock = sock
        self.conn = UnixHTTPConnection(sock)

    def request(self, method: str, path: str, body=None, headers=None, raw: bool = False):
        hdrs = dict(headers or {})
        data = body
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        payload = resp.read()
        if raw:
            return resp, payload
        ctype = resp.getheader("Content-Type", "")
        parsed = json.loads(payload) if payload and ctype.startswith("application/json") else payload
        return resp, parsed

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        self.conn.close()


def _start_server(env, sock: str, log_path: str):
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "--debug", "serve", "--host", f"unix://{sock}",
                             "--group", "root"], env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(sock):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("jocker serve did not start:\n" + open(log_path).read())


def stop_server(proc, work: str) -> str:
    """End a server _start_server started in work; its log (work is removed)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log = open(os.path.join(work, "serve.log")).read()
    shutil.rmtree(work, ignore_errors=True)
    return log


@pytest.fixture(scope="session")
def api_sock(jocker_env, busybox_image):
    """A `jocker serve` for the whole session; its socket path."""
    work = tempfile.mkdtemp(prefix="jocker-api-")
    sock = os.path.join(work, "api.sock")
    proc = _start_server(jocker_env, sock, os.path.join(work, "serve.log"))
    yield sock
    log = stop_server(proc, work)
    open("/tmp/jocker-api-last-serve.log", "w").write(log)
    assert "Traceback" not in log, "the API server logged a traceback:\n" + log[-4000:]


@pytest.fixture
def api(api_sock):
    client = Api(api_sock)
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_cli(api_sock, jocker_env):
    """docker(*args, input=None, check=True): the stock docker CLI on our socket."""
    exe = shutil.which("docker")
    if not exe:
        pytest.skip("needs the docker CLI (apt-get install docker.io)")
    cfg = tempfile.mkdtemp(prefix="jocker-dockercfg-")
    env = {k: v for k, v in jocker_env.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": f"unix://{api_sock}", "DOCKER_CONFIG": cfg, "DOCKER_BUILDKIT": "0"})

    def docker(*args, input=None, check=True, timeout=120):
        p = subprocess.run([exe, *map(str, args)], input=input, capture_output=True,
                           text=not isinstance(input, bytes), env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p
    docker.env = env
    docker.exe = exe
    yield docker
    shutil.rmtree(cfg, ignore_errors=True)


@pytest.fixture
def api_cleanup(api_sock):
    """Container IDs or names to force-remove through the API after the test."""
    names: list[str] = []
    yield names
    client = Api(api_sock)
    for n in names:
        client.delete(f"/containers/{n}?force=1&v=1")
    client.close()


@pytest.fixture(scope="module")
def dockerd():
    """The real Docker Engine as the reference (tests/support.py's
    PrivateDockerd): an Api client on its socket; skips when it cannot start."""
    from support import PrivateDockerd
    ref = PrivateDockerd()
    clients = []

    def ready(sock):
        client = Api(sock)
        clients.append(client)
        return client.get("/_ping", raw=True)[0].status == 200
    try:
        if not ref.start(ready):
            pytest.skip(f"the reference dockerd did not start: {ref.log_tail()}")
        yield clients[-1]
    finally:
        for client in clients:
            client.close()
        ref.stop()
