"""`jocker serve` basics: version negotiation, _ping, /version, /info, the
error model, swarm endpoints, keep-alive, and bad requests answered without
killing the server."""

from __future__ import annotations

import json
import os
import socket
import stat

import pytest

from apiserver import api, api_cleanup, api_sock, docker_cli  # noqa: F401  (fixtures)


def test_ping_head_and_get_carry_docker_headers(api):
    for method in ("HEAD", "GET"):
        resp, body = api.request(method, "/_ping", raw=True)
        assert resp.status == 200
        assert resp.getheader("Api-Version") == "1.44"
        assert resp.getheader("Ostype") == os.uname().sysname.lower()
        assert resp.getheader("Builder-Version") == "1"
        assert resp.getheader("Server", "").startswith("jocker/")
        assert resp.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert body == (b"OK" if method == "GET" else b"")


def test_version_prefixes_and_range(api):
    for path in ("/version", "/v1.44/version", "/v1.24/version", "/v1.50/version"):
        resp, body = api.get(path)
        assert resp.status == 200, path
        assert body["ApiVersion"] == "1.44" and body["MinAPIVersion"] == "1.24"
        assert body["Os"] == os.uname().sysname.lower()
    resp, body = api.get("/v1.12/version")
    assert resp.status == 400 and "too old" in body["message"]
    resp, body = api.get("/v1.99/version")
    assert resp.status == 400 and "too new" in body["message"]


def test_info_says_not_a_swarm_node(api):
    resp, info = api.get("/v1.44/info")
    assert resp.status == 200
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Swarm"]["ControlAvailable"] is False
    assert info["Driver"] == "zfs" and info["NCPU"] >= 1
    assert isinstance(info["Containers"], int) and isinstance(info["Images"], int)


def test_errors_are_json_with_dockers_statuses(api):
    resp, body = api.get("/v1.44/nonsense/endpoint")
    assert resp.status == 404 and body == {"message": "page not found"}
    assert resp.getheader("Content-Type") == "application/json"
    resp, body = api.get("/containers/no-such-container/json")
    assert resp.status == 404 and body["message"] == "No such container: no-such-container"
    resp, body = api.get("/images/no-such-image:1/json")
    assert resp.status == 404 and body["message"] == "No such image: no-such-image:1"
    resp, body = api.get("/swarm")
    assert resp.status == 503 and body["message"].startswith("This node is not a swarm manager")
    resp, body = api.get("/services")
    assert resp.status == 503
    resp, body = api.post("/swarm/leave")
    assert resp.status == 503 and body["message"] == "This node is not part of a swarm"


def test_bad_requests_never_kill_the_server(api, api_sock):
    resp, body = api.post("/containers/create", b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "invalid JSON" in body["message"]
    resp, body = api.post("/containers/create", {"Image": 42})
    assert resp.status == 400 and "Image" in body["message"]
    resp, body = api.post("/containers/create", {"Image": "busybox", "HostConfig": {"Memory": "lots"}})
    assert resp.status == 400 and "Memory" in body["message"]
    resp, body = api.post("/containers/create", [1, 2])
    assert resp.status == 400
    resp, body = api.get("/containers/json?filters=%7Bbad")
    assert resp.status == 400
    resp, body = api.get("/containers/json?limit=abc")
    assert resp.status == 400
    # An oversized body is refused without reading it, and the connection closes.
    s = socket.socket(socket.AF_UNIX)
    s.connect(api_sock)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 99999999999\r\n\r\n")
    reply = s.recv(65536).decode()
    s.close()
    assert reply.startswith("HTTP/1.1 413")
    # Garbage instead of HTTP.
    s = socket.socket(socket.AF_UNIX)
    s.connect(api_sock)
    s.sendall(b"\x00\x01garbage\r\n\r\n")
    reply = s.recv(65536).decode(errors="replace")
    s.close()
    assert reply.startswith("HTTP/1.1 400") or reply.startswith("HTTP/1.0 400")
    # Still serving, on the same keep-alive connection as before too.
    resp, _ = api.get("/_ping", raw=True)
    assert resp.status == 200


def test_keep_alive_and_chunked_request_bodies(api):
    resp1, _ = api.get("/version")
    sock1 = api.conn.sock
    resp2, _ = api.get("/_ping", raw=True)
    assert api.conn.sock is sock1                # the same connection served both
    # A chunked JSON body (what Go clients send for streamed bodies).
    api.conn.putrequest("POST", "/volumes/create")
    api.conn.putheader("Transfer-Encoding", "chunked")
    api.conn.putheader("Content-Type", "application/json")
    api.conn.endheaders()
    payload = json.dumps({"Name": "apichunked"}).encode()
    for part in (payload[:5], payload[5:]):
        api.conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    api.conn.send(b"0\r\n\r\n")
    resp = api.conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 201 and body["Name"] == "apichunked"
    resp, _ = api.delete("/volumes/apichunked")
    assert resp.status == 204


def test_socket_mode_is_0660(api_sock):
    st = os.stat(api_sock)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == 0


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:23750", "ftp://x"])
def test_no_plain_tcp_listener(jocker, host):
    p = jocker("serve", "--host", host, check=False, timeout=30)
    assert p.returncode == 125 and p.stdout == ""
    assert ("without TLS" in p.stderr) if host.startswith("tcp") else ("invalid --host" in p.stderr)


def test_sigterm_stops_the_server_and_removes_its_socket(jocker_env, tmp_path):
    """rc.d stops `jocker serve` with SIGTERM: the socket file and the
    address record for `jocker compose` go with it, and the exit is clean."""
    import signal
    import subprocess
    from apiserver import _start_server
    sock = str(tmp_path / "term.sock")
    proc = _start_server(jocker_env, sock, str(tmp_path / "serve.log"))
    records = os.path.join(jocker_env["JOCKER_RUNDIR"], "api-hosts", str(proc.pid))
    assert os.path.exists(records)
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(15) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert not os.path.exists(sock) and not os.path.exists(records)
