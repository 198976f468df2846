"""Issue 12's verbs through the Engine API: update, export, container
prune, attach with logs=1 and detach keys; by raw HTTP, the stock docker CLI
and docker-py, on real containers."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from apiserver import api, api_cleanup, api_sock, docker_cli  # noqa: F401  (fixtures)


def _create(api, name, cmd, **host):
    resp, body = api.post(f"/containers/create?name={name}",
                          {"Image": "busybox", "Cmd": cmd, "HostConfig": host})
    assert resp.status == 201, body
    return body["Id"]


def test_update_by_http(api, api_cleanup):
    api_cleanup.append("apiupd")
    cid = _create(api, "apiupd", ["sleep", "60"])
    resp, body = api.post(f"/containers/{cid}/update",
                          {"Memory": 64 << 20, "NanoCpus": 500_000_000, "PidsLimit": 40, "CpuShares": 0,
                           "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}})
    assert resp.status == 200 and set(body) == {"Warnings"} and isinstance(body["Warnings"], list)
    _, info = api.get(f"/containers/{cid}/json")
    host = info["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 500_000_000, 40)
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    # Docker's zero values leave settings as they are
    resp, _ = api.post(f"/containers/{cid}/update", {"Memory": 0, "RestartPolicy": {"Name": ""}})
    assert resp.status == 200
    _, info = api.get(f"/containers/{cid}/json")
    assert info["HostConfig"]["Memory"] == 64 << 20
    for bad, words in (({"Memory": 1024}, "Minimum memory limit"), ({"CpuPeriod": 5}, "CPU cfs period"),
                       ({"Memory": "lots"}, "Memory"), ({"RestartPolicy": {"Name": "maybe"}}, "restart policy"),
                       ({"NanoCpus": 500_000_000, "CpuQuota": 5000}, "Conflicting options"),
                       ({"NanoCpus": 1_000_000}, "Range of CPUs is from 0.01"), ({"CpuQuota": 500}, "cfs quota")):
        resp, body = api.post(f"/containers/{cid}/update", bad)
        assert resp.status == 400 and words in body["message"] and "\n" not in body["message"], (bad, body)
    resp, body = api.post("/containers/nope/update", {"Memory": 64 << 20})
    assert resp.status == 404 and body["message"] == "No such container: nope"


def test_docker_cli_update_export_prune(docker_cli, api_cleanup, tmp_path):
    api_cleanup.extend(["dkupd", "dkgone"])
    docker_cli("run", "-d", "--name", "dkupd", "busybox", "sh", "-c", "echo hi > /hello; sleep 60")
    p = docker_cli("update", "--memory", "48m", "--memory-swap", "96m", "--cpus", "0.5",
                   "--pids-limit", "30", "--restart", "on-failure:2", "dkupd")
    # the docker CLI prints the daemon's Warnings after the name: here, that
    # the Linux workbench runtime does not enforce limits
    assert p.stdout.splitlines()[0] == "dkupd" and "does not enforce" in p.stdout
    host = json.loads(docker_cli("inspect", "dkupd").stdout)[0]["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == \
        (48 << 20, 96 << 20, 500_000_000, 30)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    p = docker_cli("update", "--memory", "1k", "dkupd", check=False)
    assert p.returncode == 1 and "Minimum memory limit allowed is 6MB" in p.stderr
    out = tmp_path / "fs.tar"
    docker_cli("export", "-o", out, "dkupd")
    with tarfile.open(out) as tar:
        assert tar.extractfile("hello").read() == b"hi\n"
        assert "bin/busybox" in tar.getnames()
    docker_cli("create", "--name", "dkgone", "--label", "dkprune=1", "busybox", "true")
    gone = docker_cli("inspect", "-f", "{{.Id}}", "dkgone").stdout.strip()
    p = docker_cli("container", "prune", "-f", "--filter", "label=dkprune=1")
    assert gone in p.stdout and "Total reclaimed space" in p.stdout
    assert docker_cli("ps", "-aq", "--filter", "name=dkgone").stdout == ""


def test_docker_py_update_export_prune(api_sock, api_cleanup):
    docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker.DockerClient(base_url=f"unix://{api_sock}", version="auto", timeout=120)
    api_cleanup.extend(["pyupd", "pygone"])
    try:
        c = client.containers.run("busybox", ["sh", "-c", "echo py > /marker; sleep 60"], detach=True,
                                  name="pyupd")
        res = c.update(mem_limit="32m", restart_policy={"Name": "always"}, cpu_quota=50000,
                       cpu_period=100000)
        assert res == {"Warnings": res["Warnings"]}
        c.reload()
        assert c.attrs["HostConfig"]["Memory"] == 32 << 20 and c.attrs["HostConfig"]["CpuQuota"] == 50000
        data = b"".join(c.export())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert tar.extractfile("marker").read() == b"py\n"
        client.containers.create("busybox", ["true"], name="pygone", labels={"pyprune": "1"})
        out = client.containers.prune(filters={"label": "pyprune=1"})
        assert len(out["ContainersDeleted"]) == 1 and isinstance(out["SpaceReclaimed"], int)
        out = client.containers.prune(filters={"label": "pyprune=1"})
        assert out["ContainersDeleted"] is None          # as dockerd answers: null, not []
    finally:
        client.close()


class Hijacked:
    """A raw hijacked API connection (what the docker CLI opens for attach)."""

    def __init__(self, sock_path: str, path: str, body: bytes = b""):
        import socket
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(sock_path)
        head = (f"POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.s.sendall(head + body)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, self.buf
            self.buf += chunk
        self.head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(self.head.split()[1])

    def read_until(self, want: bytes) -> bytes:
        while want not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before {want!r}: {self.buf!r}")
            self.buf += chunk
        return self.buf

    def read_to_end(self) -> bytes:
        while True:
            chunk = self.s.recv(65536)
            if not chunk:
                return self.buf
            self.buf += chunk

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def close(self) -> None:
        self.s.close()


def _frames(raw: bytes) -> list[tuple[int, bytes]]:
    out = []
    while len(raw) >= 8:
        n = int.from_bytes(raw[4:8], "big")
        out.append((raw[0], raw[8:8 + n]))
        raw = raw[8 + n:]
    return out


def test_attach_with_logs_replays_then_streams(api, api_sock, api_cleanup, wait_for):
    api_cleanup.append("attlogs")
    resp, body = api.post("/containers/create?name=attlogs", {
        "Image": "busybox", "OpenStdin": True, "StdinOnce": False,
        "Cmd": ["sh", "-c", "echo first; echo oops >&2; read x; echo got-$x"]})
    cid = body["Id"]
    assert api.post(f"/containers/{cid}/start")[0].status == 204
    assert wait_for(lambda: b"first" in api.get(f"/containers/{cid}/logs?stdout=1", raw=True)[1])
    # logs=1 without stream: the log so far, then the end; stderr only when asked
    h = Hijacked(api_sock, f"/containers/{cid}/attach?logs=1&stream=0&stdout=1")
    assert h.status == 101 and _frames(h.read_to_end()) == [(1, b"first\n")]
    h.close()
    h = Hijacked(api_sock, f"/containers/{cid}/attach?logs=1&stream=1&stdout=1&stderr=1&stdin=1")
    h.read_until(b"oops\n")
    h.send(b"abc\n")
    got = _frames(h.read_to_end())
    assert got == [(1, b"first\n"), (2, b"oops\n"), (1, b"got-abc\n")]
    h.close()


def test_detach_keys_on_attach_and_exec(api, api_sock, api_cleanup):
    api_cleanup.append("attkeys")
    resp, body = api.post("/containers/create?name=attkeys", {
        "Image": "busybox", "OpenStdin": True, "Tty": True, "Cmd": ["sh"]})
    cid = body["Id"]
    assert api.post(f"/containers/{cid}/start")[0].status == 204
    resp, body = api.post(f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&detachKeys=bogus-key")
    assert resp.status == 400 and "invalid detach keys" in body["message"]
    for query, keys in (("&detachKeys=ctrl-x,x", b"\x18x"), ("", b"\x10\x11")):
        h = Hijacked(api_sock, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1{query}")
        assert h.status == 101
        h.send(b"echo kept-$((3*3))\n")
        h.read_until(b"kept-9")
        h.send(keys)
        h.read_to_end()                  # the server closes: detached
        h.close()
        _, info = api.get(f"/containers/{cid}/json")
        assert info["State"]["Running"], query
    # exec: DetachKeys in the create body (as the docker CLI sends --detach-keys)
    resp, body = api.post(f"/containers/{cid}/exec", {"Cmd": ["sh"], "Tty": True, "AttachStdin": True,
                                                      "AttachStdout": True, "DetachKeys": "ctrl-a"})
    eid = body["Id"]
    h = Hijacked(api_sock, f"/exec/{eid}/start", b'{"Tty": true}')
    assert h.status == 101
    h.send(b"echo exec-$((2*5))\n")
    h.read_until(b"exec-10")
    h.send(b"\x01")
    h.read_to_end()
    h.close()
    _, info = api.get(f"/exec/{eid}/json")
    assert info["Running"] is True and info["DetachKeys"] == "ctrl-a"
    resp, body = api.post(f"/containers/{cid}/exec", {"Cmd": ["true"], "DetachKeys": "ctrl-"})
    assert resp.status == 400 and "invalid detach keys" in body["message"]


def test_docker_cli_detaches_with_its_keys(docker_cli, api, api_cleanup):
    """The stock docker CLI on a real terminal: run -it, then ctrl-p ctrl-q;
    attach --detach-keys (sent as the detachKeys parameter); exec -it with
    keys (the DetachKeys of the exec)."""
    from support import PtyProcess
    api_cleanup.append("dkkeys")
    t = PtyProcess([docker_cli.exe, "run", "-it", "--name", "dkkeys", "busybox", "sh"], docker_cli.env)
    t.expect(b"# ")
    t.send(b"echo a-$((1+6))\r")
    t.expect(b"a-7")
    t.send(b"\x10\x11")
    assert t.wait() == 0
    assert api.get("/containers/dkkeys/json")[1]["State"]["Running"]
    t = PtyProcess([docker_cli.exe, "attach", "--detach-keys", "ctrl-x,x", "dkkeys"], docker_cli.env)
    t.send(b"echo b-$((2+6))\r")
    t.expect(b"b-8")
    t.send(b"\x18x")
    assert t.wait() == 1 and b"read escape sequence" in t.out     # docker attach's own habit
    assert api.get("/containers/dkkeys/json")[1]["State"]["Running"]
    t = PtyProcess([docker_cli.exe, "exec", "-it", "--detach-keys", "ctrl-a", "dkkeys", "sh"], docker_cli.env)
    t.expect(b"# ")
    t.send(b"echo c-$((3+6))\r")
    t.expect(b"c-9")
    t.send(b"\x01")
    assert t.wait() == 1 and b"read escape sequence" in t.out
    # the exec'd shell lives on beside the main one
    procs = api.get("/containers/dkkeys/top")[1]["Processes"]
    assert sum(1 for p in procs if p[-1] == "sh") == 2, procs


def test_docker_py_attach_with_logs(api_sock, api_cleanup, wait_for):
    """docker-py's attach(logs=True, stream=False): what the container wrote so far."""
    docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker.DockerClient(base_url=f"unix://{api_sock}", version="auto", timeout=120)
    api_cleanup.append("pyattach")
    try:
        c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; sleep 60"], detach=True,
                                  name="pyattach")
        assert wait_for(lambda: b"two" in c.logs())
        assert c.attach(stdout=True, stderr=True, logs=True, stream=False) == b"one\ntwo\n"
        assert c.attach(stdout=True, stderr=False, logs=True, stream=False) == b"one\n"
    finally:
        client.close()


def test_tty_exec_finishes_when_its_client_hangs_up(api, api_sock, api_cleanup, wait_for):
    """A client that just goes away (no detach keys): the server keeps
    draining the terminal, so a process that writes a lot still finishes
    instead of blocking on a full pty forever."""
    api_cleanup.append("exhang")
    _, body = api.post("/containers/create?name=exhang", {"Image": "busybox", "Cmd": ["sleep", "300"]})
    cid = body["Id"]
    assert api.post(f"/containers/{cid}/start")[0].status == 204
    _, body = api.post(f"/containers/{cid}/exec", {
        "Cmd": ["sh", "-c", "echo go; yes | head -c 20000000; echo done > /tmp/finished"],
        "Tty": True, "AttachStdout": True})
    eid = body["Id"]
    h = Hijacked(api_sock, f"/exec/{eid}/start", b'{"Tty": true}')
    assert h.status == 101
    h.read_until(b"go")
    h.close()                                  # gone, mid-output
    assert wait_for(lambda: api.get(f"/exec/{eid}/json")[1]["Running"] is False, 60)
    _, info = api.get(f"/exec/{eid}/json")
    assert info["ExitCode"] == 0
    _, body = api.post(f"/containers/{cid}/exec", {"Cmd": ["cat", "/tmp/finished"], "AttachStdout": True})
    h = Hijacked(api_sock, f"/exec/{body['Id']}/start", b'{}')
    assert b"done" in h.read_to_end()
    h.close()


def test_a_bind_mount_of_a_missing_source_is_refused_like_dockerd(api, api_cleanup, tmp_path):
    """HostConfig.Mounts never creates a bind source (only -v/Binds does),
    unless BindOptions.CreateMountpoint says so."""
    missing = tmp_path / "not-there"
    mount = {"Type": "bind", "Source": str(missing), "Target": "/data"}
    resp, body = api.post("/containers/create?name=bindmiss", {
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"Mounts": [mount]}})
    assert resp.status == 400 and "bind source path does not exist" in body["message"]
    assert not missing.exists()
    api_cleanup.append("bindmake")
    resp, body = api.post("/containers/create?name=bindmake", {
        "Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"Mounts": [dict(mount, BindOptions={"CreateMountpoint": True})]}})
    assert resp.status == 201, body
