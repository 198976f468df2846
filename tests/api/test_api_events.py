"""GET /events through `jocker serve`: the stock docker CLI's `docker events`,
docker-py's `client.events()`, a raw streaming client that hangs up, and the
real Docker Engine's answers to the same requests compared field by field."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
import urllib.parse

import pytest

from apiserver import Api, api, api_cleanup, api_sock, docker_cli, dockerd  # noqa: F401  (fixtures)


def test_docker_events_since_until_filter_and_format(docker_cli, jocker, busybox_image, api_cleanup):
    api_cleanup += ["api-ev"]
    t0 = time.time() - 1
    cid = docker_cli("run", "-d", "--name", "api-ev", "-l", "ev=1", busybox_image, "sh", "-c", "exit 7").stdout.strip()
    docker_cli("wait", "api-ev")
    until = time.time() + 1
    out = docker_cli("events", "--since", str(int(t0)), "--until", f"{until:.3f}",
                     "--filter", "container=api-ev", "--format", "{{json .}}").stdout
    got = [json.loads(line) for line in out.splitlines()]
    assert [e["Action"] for e in got] == ["create", "start", "die"]
    die = got[-1]
    assert die["Actor"] == {"ID": cid, "Attributes": {"ev": "1", "exitCode": "7", "image": busybox_image,
                                                      "name": "api-ev"}}
    assert die["status"] == "die" and die["id"] == cid and die["from"] == busybox_image
    # the CLI's own default line, from the JSON we sent
    line = docker_cli("events", "--since", str(int(t0)), "--until", f"{until:.3f}",
                      "--filter", f"container={cid}", "--filter", "event=die").stdout
    assert line.rstrip("\n").split(" ", 1)[1] == \
        f"container die {cid} (ev=1, exitCode=7, image={busybox_image}, name=api-ev)"
    labelled = docker_cli("events", "--since", str(int(t0)), "--until", f"{until:.3f}",
                          "--filter", "label=ev=1", "--filter", "type=container",
                          "--format", "{{.Action}}").stdout.split()
    assert labelled == ["create", "start", "die"]
    # `jocker events` prints what `docker events` prints, line for line, template for template
    for fmt in ([], ["--format", "json"], ["--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Status}} {{.From}} {{.Time}} "
                                 "{{.TimeNano}} {{.Scope}} {{json .Actor.Attributes}}"]):
        window = ["--since", str(int(t0)), "--until", f"{until:.3f}", "--filter", f"container={cid}", *fmt]
        theirs = docker_cli("events", *window).stdout
        assert theirs and jocker("events", *window).stdout == theirs
    bad = docker_cli("events", "--since", str(int(t0)), "--until", f"{until:.3f}", "--filter", "colour=red",
                     check=False)
    assert bad.returncode != 0 and "invalid filter 'colour'" in bad.stderr


def test_dockerpy_events_decode_and_filters(api_sock, busybox_image, api_cleanup):
    docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")
    client = docker.DockerClient(base_url=f"unix://{api_sock}", version="auto", timeout=60)
    api_cleanup += ["api-ev-py"]
    try:
        t0 = int(time.time()) - 1
        c = client.containers.run(busybox_image, ["sh", "-c", "exit 2"], name="api-ev-py", detach=True)
        c.wait()
        c.remove()
        got = list(client.events(since=t0, until=int(time.time()) + 1, decode=True,
                                 filters={"container": "api-ev-py", "event": ["die", "destroy"]}))
        assert [(e["Type"], e["Action"]) for e in got] == [("container", "die"), ("container", "destroy")]
        assert got[0]["Actor"]["Attributes"]["exitCode"] == "2" and got[0]["Actor"]["ID"] == c.id
        # live: a stream with no `until`, closed by the client
        stream = client.events(decode=True, filters={"type": "volume"})
        client.volumes.create("api-ev-vol").remove()
        first = next(stream)
        stream.close()
        assert (first["Type"], first["Action"], first["Actor"]["ID"]) == ("volume", "create", "api-ev-vol")
    finally:
        client.close()


def _server_pid(sock: str) -> int:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and f"unix://{sock}".encode() in cmd:
            return int(pid)
    raise AssertionError("no jocker serve process for " + sock)


def _threads_and_journals(pid: int) -> tuple[int, int]:
    fds = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds += os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".jsonl")
        except OSError:
            pass
    return len(os.listdir(f"/proc/{pid}/task")), fds


def test_streams_are_chunked_live_and_end_when_the_client_hangs_up(api_sock, api, busybox_image):
    pid = _server_pid(api_sock)
    api.get("/_ping")
    # Streams of earlier tests (docker events, docker-py) may still be
    # winding down: count from a server that holds none, or the baseline
    # moves under us.
    end = time.time() + 10
    while time.time() < end and _threads_and_journals(pid)[1]:
        time.sleep(0.1)
    threads0, journals0 = _threads_and_journals(pid)
    assert journals0 == 0, "an earlier events stream was never released"
    clients = []
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX)
        s.connect(api_sock)
        s.sendall(b'GET /v1.44/events?filters=%7B%22volume%22%3A%5B%22api-ev-live%22%5D%7D HTTP/1.1\r\n'
                  b'Host: d\r\n\r\n')
        clients.append(s)
    end = time.time() + 10
    while time.time() < end and _threads_and_journals(pid)[1] < journals0 + 5:
        time.sleep(0.1)
    threads, journals = _threads_and_journals(pid)
    assert journals == journals0 + 5 and threads >= threads0 + 5    # a thread and a file each
    assert api.post("/volumes/create", {"Name": "api-ev-live"})[0].status == 201
    assert api.delete("/volumes/api-ev-live")[0].status == 204
    for s in clients:
        s.settimeout(10)
        data = b""
        while data.count(b"\n{") < 2 or not data.rstrip().endswith(b"}"):
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head and head.startswith(b"HTTP/1.1 200")
        chunks = body.split(b"\r\n")
        events = [json.loads(c) for c in chunks if c.startswith(b"{")]
        assert [e["Action"] for e in events] == ["create", "destroy"]
        s.close()
    def released():
        threads, journals = _threads_and_journals(pid)
        return threads <= threads0 and journals == journals0   # (reapers of other tests may end too)
    end = time.time() + 10
    while time.time() < end and not released():
        time.sleep(0.2)
    assert released(), (_threads_and_journals(pid), threads0, journals0)


# -- the real Docker Engine as the reference ------------------------------------------

def _rootfs_tar(root) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(root), arcname=".")
    return buf.getvalue()


def _scenario(client: Api, tar: bytes) -> list[dict]:
    """The same requests to either engine; the events they reported."""
    V = "/v1.41"
    t0 = time.time() - 1
    assert client.post(V + "/volumes/create", {"Name": "evref-vol"})[0].status == 201
    assert client.delete(V + "/volumes/evref-vol")[0].status == 204
    resp, _ = client.post(V + "/images/create?fromSrc=-&repo=evref&tag=1", tar,
                          headers={"Content-Type": "application/x-tar"})
    assert resp.status == 200
    resp, body = client.post(V + "/containers/create?name=evref-c",
                             {"Image": "evref:1", "Cmd": ["true"], "Labels": {"team": "a"}})
    assert resp.status == 201, body
    assert client.delete(V + "/containers/evref-c")[0].status == 204
    assert client.post(V + "/images/evref:1/tag?repo=evref&tag=2")[0].status == 201
    assert client.delete(V + "/images/evref:2")[0].status == 200
    assert client.delete(V + "/images/evref:1")[0].status == 200
    resp, raw = client.get(f"{V}/events?since={t0:.3f}&until={time.time() + 0.5:.3f}", raw=True)
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _shape(e: dict) -> dict:
    return {"keys": {k: type(v).__name__ for k, v in e.items()},
            "attributes": sorted(e["Actor"]["Attributes"]), "actor": sorted(e["Actor"])}


def test_event_json_like_dockerds_field_by_field(dockerd, api, busybox_rootfs, busybox_image):
    tar = _rootfs_tar(busybox_rootfs)
    theirs, ours = _scenario(dockerd, tar), _scenario(api, tar)
    # the same events in the same order (tag before import, two untags, delete)
    assert [(e["Type"], e["Action"]) for e in ours] == [(e["Type"], e["Action"]) for e in theirs]
    their_image, our_image = theirs[2]["id"], ours[2]["id"]
    for mine, ref in zip(ours, theirs):
        assert _shape(mine) == _shape(ref), (mine, ref)      # keys, their JSON types, attribute names
        assert mine["scope"] == ref["scope"] == "local"
        attrs = {k: v.replace(our_image, their_image) for k, v in mine["Actor"]["Attributes"].items()}
        if mine["Type"] == "volume":
            assert attrs == {"driver": "zfs"} and ref["Actor"]["Attributes"] == {"driver": "local"}
        else:
            assert attrs == ref["Actor"]["Attributes"], (mine, ref)
        if mine["Type"] == "container":
            assert (mine["status"], mine["from"]) == (ref["status"], ref["from"])


def _import_and_create(client: Api, tar: bytes, name: str, body: dict) -> float:
    """Import the rootfs as NAME:1, create container NAME-c from it without
    a network (the reference dockerd has no bridge); the time just before."""
    resp, _ = client.post(f"/v1.41/images/create?fromSrc=-&repo={name}&tag=1", tar,
                          headers={"Content-Type": "application/x-tar"})
    assert resp.status == 200
    t0 = time.time() - 0.5
    resp, body = client.post(f"/v1.41/containers/create?name={name}-c",
                             dict(body, Image=f"{name}:1", HostConfig={"NetworkMode": "none"}))
    assert resp.status == 201, body
    return t0


def _events_since(client: Api, t0: float, types: list[str]) -> list[dict]:
    flt = urllib.parse.quote(json.dumps({"type": types}))
    resp, raw = client.get(f"/v1.41/events?since={t0:.3f}&until={time.time() + 0.5:.3f}&filters={flt}",
                           raw=True)
    assert resp.status == 200
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


RUN_CMD = ["sh", "-c", "if [ -f /ran ]; then trap 'exit 0' TERM; while :; do sleep 0.1; done; fi; "
                       "touch /ran; exit 3"]


def _run_scenario(client: Api, tar: bytes) -> list[dict]:
    """A container's life on either engine (no network: the reference dockerd
    has no bridge): exit 3, start, stop, restart, kill, rm."""
    V = "/v1.41"
    t0 = _import_and_create(client, tar, "evrun", {"Cmd": RUN_CMD, "Labels": {"team": "b"}})
    assert client.post(V + "/containers/evrun-c/start")[0].status == 204
    assert client.post(V + "/containers/evrun-c/wait")[1]["StatusCode"] == 3
    assert client.post(V + "/containers/evrun-c/start")[0].status == 204
    assert client.post(V + "/containers/evrun-c/stop?t=10")[0].status == 204
    assert client.post(V + "/containers/evrun-c/restart?t=10")[0].status == 204
    assert client.post(V + "/containers/evrun-c/kill")[0].status == 204
    assert client.post(V + "/containers/evrun-c/wait")[1]["StatusCode"] == 137
    assert client.delete(V + "/containers/evrun-c")[0].status == 204
    assert client.delete(V + "/images/evrun:1")[0].status == 200
    return _events_since(client, t0, ["container", "network"])


def test_a_containers_life_in_events_like_dockerds(dockerd, api, busybox_rootfs, busybox_image):
    tar = _rootfs_tar(busybox_rootfs)
    theirs, ours = _run_scenario(dockerd, tar), _run_scenario(api, tar)
    # create, connect, start, die, disconnect, connect, start, kill, die, disconnect, stop,
    # connect, start, restart, kill, die, disconnect, destroy: the same, in the same order
    assert [(e["Type"], e["Action"]) for e in ours] == [(e["Type"], e["Action"]) for e in theirs]
    their_c, our_c = theirs[0]["id"], ours[0]["id"]
    their_net = next(e["Actor"]["ID"] for e in theirs if e["Type"] == "network")
    our_net = next(e["Actor"]["ID"] for e in ours if e["Type"] == "network")
    for mine, ref in zip(ours, theirs):
        assert _shape(mine) == _shape(ref), (mine, ref)
        assert mine["Actor"]["ID"] == {their_c: our_c, their_net: our_net}[ref["Actor"]["ID"]]
        attrs = {k: v.replace(our_c, their_c) for k, v in mine["Actor"]["Attributes"].items()}
        assert attrs == ref["Actor"]["Attributes"], (mine, ref)


def _health_scenario(client: Api, tar: bytes) -> list[dict]:
    V = "/v1.41"
    t0 = _import_and_create(client, tar, "evhc", {
        "Cmd": ["sh", "-c", "while :; do sleep 0.1; done"],
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 300_000_000}})
    assert client.post(V + "/containers/evhc-c/start")[0].status == 204
    end = time.time() + 30
    while client.get(V + "/containers/evhc-c/json")[1]["State"].get("Health", {}).get("Status") != "healthy":
        assert time.time() < end, "never healthy"
        time.sleep(0.1)
    assert client.delete(V + "/containers/evhc-c?force=1")[0].status == 204
    assert client.delete(V + "/images/evhc:1")[0].status == 200
    return _events_since(client, t0, ["container"])


def test_healthcheck_events_like_dockerds(dockerd, api, busybox_rootfs, busybox_image):
    tar = _rootfs_tar(busybox_rootfs)
    theirs, ours = _health_scenario(dockerd, tar), _health_scenario(api, tar)

    def upto_healthy(events):
        n = next(i for i, e in enumerate(events) if e["Action"] == "health_status: healthy")
        return events[:n + 1], [e for e in events[n + 1:] if not e["Action"].startswith("exec_")]
    (mine_first, mine_rest), (their_first, their_rest) = upto_healthy(ours), upto_healthy(theirs)
    # create, start, one probe as an exec (create, start, die 0), then healthy; after it
    # (more probes aside) the forced removal: kill, die, destroy
    assert [e["Action"] for e in mine_first] == [e["Action"] for e in their_first] == \
        ["create", "start", "exec_create: /bin/sh -c true", "exec_start: /bin/sh -c true", "exec_die",
         "health_status: healthy"]
    assert [e["Action"] for e in mine_rest] == [e["Action"] for e in their_rest]
    for mine, ref in zip(mine_first + mine_rest, their_first + their_rest):
        assert _shape(mine) == _shape(ref), (mine, ref)
    assert mine_first[4]["Actor"]["Attributes"]["exitCode"] == "0"
    assert mine_first[2]["Actor"]["Attributes"]["execID"] == mine_first[4]["Actor"]["Attributes"]["execID"]


def test_docker_attach_to_a_running_container_reports_attach(docker_cli, busybox_image, api_cleanup):
    api_cleanup += ["api-ev-at"]
    t0 = time.time() - 1
    cid = docker_cli("run", "-d", "--name", "api-ev-at", busybox_image, "sh", "-c",
                     "sleep 1; echo done").stdout.strip()
    p = docker_cli("attach", "api-ev-at")
    assert p.stdout == "done\n"
    out = docker_cli("events", "--since", str(int(t0)), "--until", f"{time.time() + 1:.3f}",
                     "--filter", f"container={cid}", "--format", "{{.Action}}").stdout.split()
    assert out == ["create", "start", "attach", "die"]
    # `docker run` attaches before it starts (and --rm destroys it after die)
    t1 = time.time() - 1
    assert docker_cli("run", "--name", "api-ev-at2", "--rm", busybox_image, "true").returncode == 0
    out = docker_cli("events", "--since", f"{t1:.3f}", "--until", f"{time.time() + 1:.3f}",
                     "--filter", "container=api-ev-at2", "--filter", "type=container",
                     "--format", "{{.Action}}").stdout.split()
    assert out == ["create", "attach", "start", "die", "destroy"]


def _restart_policy_scenario(client: Api, tar: bytes) -> list[dict]:
    t0 = _import_and_create(client, tar, "evrp", {"Cmd": ["sh", "-c", "exit 1"]})
    assert client.post("/v1.41/containers/evrp-c/update",
                       {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 1}})[0].status == 200
    assert client.post("/v1.41/containers/evrp-c/start")[0].status == 204
    end = time.time() + 30
    while True:
        state = client.get("/v1.41/containers/evrp-c/json")[1]
        if state["RestartCount"] == 1 and not state["State"]["Running"] and not state["State"]["Restarting"]:
            break
        assert time.time() < end, state["State"]
        time.sleep(0.1)
    assert client.delete("/v1.41/containers/evrp-c")[0].status == 204
    assert client.delete("/v1.41/images/evrp:1")[0].status == 200
    return _events_since(client, t0, ["container", "network"])


def test_restart_policy_events_like_dockerds(dockerd, api, busybox_rootfs, busybox_image):
    tar = _rootfs_tar(busybox_rootfs)
    theirs, ours = _restart_policy_scenario(dockerd, tar), _restart_policy_scenario(api, tar)
    # each run joins its network before its start and leaves it after its die
    assert [(e["Type"], e["Action"]) for e in ours] == [(e["Type"], e["Action"]) for e in theirs]
    assert [e["Action"] for e in ours] == ["create", "update", "connect", "start", "die", "disconnect",
                                          "connect", "start", "die", "disconnect", "destroy"]
