"""docker-py (PyPI `docker`) through its high-level API, and 50 concurrent
API clients creating, starting and removing containers."""

from __future__ import annotations

import io
import os
import tarfile
import threading

import pytest

from apiserver import api, api_cleanup, api_sock, docker_cli  # noqa: F401  (fixtures)

docker = pytest.importorskip("docker", reason="needs docker-py (pip install docker)")


@pytest.fixture
def client(api_sock):
    c = docker.DockerClient(base_url=f"unix://{api_sock}", version="auto", timeout=120)
    yield c
    c.close()


def test_version_ping_info(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.44"
    assert client.info()["Driver"] == "zfs"


def test_containers_run_logs_exec_stop_remove(client, busybox_image):
    out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo oops >&2"], remove=True,
                                stderr=True)
    assert b"hi" in out
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "exit 7"], remove=True)
    assert e.value.exit_status == 7
    c = client.containers.run("busybox", ["sh", "-c", "echo ready; sleep 30"], detach=True,
                              name="apipy", labels={"app": "py"})
    try:
        c.reload()
        assert c.status == "running" and c.name == "apipy" and c.labels == {"app": "py"}
        assert [x.name for x in client.containers.list(filters={"label": "app=py"})] == ["apipy"]
        res = c.exec_run(["sh", "-c", "echo from-exec; exit 3"])
        assert res.exit_code == 3 and res.output == b"from-exec\n"
        res = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert res.output == (b"o\n", b"e\n")
        assert c.logs() == b"ready\n"
        assert c.top()["Processes"]
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] in (137, 143)
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("apipy")


def test_missing_image_is_image_not_found(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image-anywhere:1")


def test_images_and_build(client, busybox_image):
    assert any("busybox:latest" in i.tags for i in client.images.list())
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as t:
        data = b"FROM busybox\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    img, logs = client.images.build(fileobj=ctx, custom_context=True, tag="apipybuilt:1", rm=True)
    try:
        assert "apipybuilt:1" in img.tags
        assert any("Successfully built" in l.get("stream", "") for l in logs)
        assert client.containers.run("apipybuilt:1", remove=True) == b"built\n"
        assert img.history()
    finally:
        client.images.remove("apipybuilt:1")


def test_volumes(client):
    v = client.volumes.create("apipyvol", labels={"a": "b"})
    assert v.name == "apipyvol" and v.attrs["Labels"] == {"a": "b"}
    assert "apipyvol" in [x.name for x in client.volumes.list()]
    v.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("apipyvol")


@pytest.mark.slow
def test_fifty_concurrent_clients(api_sock, busybox_image, jocker_env, wait_for):
    """Each client creates, starts, waits for and removes its own container:
    no errors, and nothing is left behind."""
    errors: list[str] = []
    before = set(os.listdir("/proc"))

    def one(i: int) -> None:
        c = docker.APIClient(base_url=f"unix://{api_sock}", version="1.44", timeout=300)
        try:
            cid = c.create_container("busybox", ["sh", "-c", f"echo {i}"], name=f"apiconc{i}")["Id"]
            c.start(cid)
            code = c.wait(cid)["StatusCode"]
            logs = c.logs(cid)
            if code != 0 or logs != f"{i}\n".encode():
                errors.append(f"{i}: exit {code}, logs {logs!r}")
            c.remove_container(cid, force=True)
        except Exception as e:          # collected, then reported all at once
            errors.append(f"{i}: {e}")
        finally:
            c.close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert errors == []
    lowlevel = docker.APIClient(base_url=f"unix://{api_sock}", version="1.44")
    left = [c["Names"] for c in lowlevel.containers(all=True) if c["Names"][0].startswith("/apiconc")]
    lowlevel.close()
    assert left == []
    # No supervisor of this session left running (other sessions share the machine).
    rundir = jocker_env["JOCKER_RUNDIR"]

    def leaked():
        # A supervisor holds its container's supervisor.lock for its life,
        # whether exec'd or forked by the fork-server (which shows the
        # server's command line), so look at open files, not names.
        return [p for p in set(os.listdir("/proc")) - before if p.isdigit() and
                any(t.startswith(rundir) and t.endswith("/supervisor.lock") for t in _open_files(p))]
    assert wait_for(lambda: not leaked(), 10), leaked()


def _open_files(pid: str) -> list[str]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    out = []
    for fd in fds:
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out
