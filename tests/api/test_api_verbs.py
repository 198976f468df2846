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
    for bad, words in (({"Memory": 1024}, "minimum"), ({"CpuPeriod": 5}, "CPU cfs period"),
                       ({"Memory": "lots"}, "Memory"), ({"RestartPolicy": {"Name": "maybe"}}, "restart policy"),
                       ({"NanoCpus": 1, "CpuQuota": 5000}, "Conflicting options")):
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
    assert p.returncode == 1 and "the minimum is 6m" in p.stderr
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
