"""A real registry for the shipping tests: Debian's docker-registry on
127.0.0.1, on a free port, with its own config and storage directory, started
and stopped by the tests (optionally behind htpasswd or a token server)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put_blob(host: str, repo: str, data: bytes) -> str:
    """Upload a blob straight to the registry (no jocker involved); its digest."""
    import hashlib
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    loc = urllib.request.urlopen(req).headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    urllib.request.urlopen(urllib.request.Request(f"{loc}{sep}digest={digest}", data=data, method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"}))
    return digest


def put_manifest(host: str, repo: str, ref: str, doc: dict, media_type: str) -> bytes:
    data = json.dumps(doc).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}", data=data,
                                                  method="PUT", headers={"Content-Type": media_type}))
    return data


class Registry:
    def __init__(self, workdir, extra_http: str = "", auth: str = ""):
        self.dir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        os.makedirs(workdir / "data", exist_ok=True)
        conf = workdir / "config.yml"
        conf.write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {workdir / 'data'}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
{extra_http}
{auth}
""")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(conf)],
                                     stdout=open(workdir / "log", "wb"), stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return            # 401: up, with auth
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {(workdir / 'log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry for the test module (import this fixture by name)."""
    reason = need("docker-registry")
    if reason:
        pytest.skip(reason)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


def need(*tools: str) -> str | None:
    missing = [t for t in tools if not shutil.which(t)]
    return f"needs {', '.join(missing)} (sh examples/install-host-deps.sh)" if missing else None


class Proxy:
    """A small HTTP proxy in front of the registry that the tests steer:
    Bearer-token auth with its own token endpoint (`/token`, HTTP Basic
    user `u`/`p`), and injected faults per request path (`faults` maps a
    path substring to corrupt | truncate | slow | hang | huge | <status code>)."""

    def __init__(self, upstream: str, *, token_auth: bool = False):
        import http.server
        import threading
        import urllib.parse
        self.upstream = upstream
        self.faults: dict[str, str] = {}
        self.token_auth = token_auth
        self.tokens: set[str] = set()
        self.seen: list[str] = []
        self.bytes_out = 0              # response bytes sent to the client
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                proxy.bytes_out += len(body)

            def _token(self):
                import base64
                import secrets
                auth = self.headers.get("Authorization", "")
                if auth != "Basic " + base64.b64encode(b"u:p").decode():
                    return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                tok = secrets.token_hex(8)
                proxy.tokens.add(tok)
                return self._send(200, json.dumps({"token": tok, "expires_in": 300}).encode(),
                                  [("Content-Type", "application/json")])

            def handle_one(self):
                proxy.seen.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.path.startswith("/token"):
                    return self._token()
                if proxy.token_auth:
                    tok = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if tok not in proxy.tokens:
                        realm = f"http://{self.headers['Host']}/token"
                        return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}', [
                            ("WWW-Authenticate", f'Bearer realm="{realm}",service="test"')])
                fault = next((f for k, f in proxy.faults.items() if k in self.path), None)
                if fault == "hang":
                    import time
                    time.sleep(30)
                    return
                if fault == "huge":          # a manifest far over the 4 MiB limit
                    return self._send(200, b" " * (5 << 20),
                                      [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
                if fault and fault.isdigit():
                    return self._send(int(fault), b'{"errors":[{"code":"INJECTED","message":"fault"}]}')
                conn = __import__("http.client").client.HTTPConnection(proxy.upstream, timeout=30)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
                conn.request(self.command, self.path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if fault == "corrupt" and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                headers = [(k, v) for k, v in resp.getheaders()
                           if k.lower() not in ("content-length", "transfer-encoding", "connection")]
                if resp.status in (201, 202) or resp.status >= 300:
                    headers = [(k, v.replace(proxy.upstream, self.headers["Host"])) for k, v in headers]
                if fault == "slow":          # a slow link: the body in small pieces
                    import time
                    self.send_response(resp.status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(0, len(data), 65536):
                        self.wfile.write(data[i:i + 65536])
                        time.sleep(0.05)
                    return
                if fault == "truncate":
                    self.send_response(resp.status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.close_connection = True
                    return
                self._send(resp.status, data if self.command != "HEAD" else b"", headers)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = handle_one

            def do_HEAD(self):
                self.handle_one()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        del urllib

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Podman:
    """podman with its own storage (vfs) and run directories, so the tests
    never touch the host's containers or images."""

    def __init__(self, workdir):
        import tempfile
        self.runroot = tempfile.mkdtemp(prefix="jpr-", dir="/tmp")     # must be short
        self.argv = ["podman", "--root", str(workdir / "podman-root"), "--runroot", self.runroot,
                     "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]

    def __call__(self, *args, check=True):
        res = subprocess.run([*self.argv, *map(str, args)], capture_output=True, text=True, timeout=300)
        if check and res.returncode != 0:
            raise AssertionError(f"podman {' '.join(map(str, args))} exited {res.returncode}: {res.stderr}")
        return res

    def close(self) -> None:
        self("rm", "-af", check=False)
        self("rmi", "-af", check=False)
        subprocess.run(["umount", "-R", self.runroot], capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)

    def file_of(self, image: str, path: str) -> bytes:
        """A file of the image, read through `podman create` + `podman export`
        (podman run needs cgroups that a CI container may not have)."""
        import io
        import tarfile
        cid = self("create", image, "true").stdout.strip()
        try:
            data = subprocess.run([*self.argv, "export", cid], capture_output=True, check=True).stdout
        finally:
            self("rm", "-f", cid, check=False)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return tar.extractfile(path.lstrip("/")).read()
