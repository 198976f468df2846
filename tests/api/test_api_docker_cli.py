"""The stock docker CLI against a live `jocker serve`: what users type."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from apiserver import api, api_cleanup, api_sock, docker_cli  # noqa: F401  (fixtures)


def test_version_info_ps_images(docker_cli, busybox_image):
    v = docker_cli("version", "--format", "{{json .}}")
    data = json.loads(v.stdout)
    assert data["Server"]["ApiVersion"] == "1.44"
    assert data["Client"]["ApiVersion"] == "1.44"           # negotiated down
    info = docker_cli("info", "--format", "{{.Driver}} {{.Swarm.LocalNodeState}}")
    assert info.stdout.strip() == "zfs inactive"
    docker_cli("ps", "-a")
    images = docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in images


def test_run_attached_output_and_exit_code(docker_cli, busybox_image):
    p = docker_cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr
    # --rm really removed it.
    assert docker_cli("ps", "-aq", "--filter", "status=exited").stdout.strip() == "" or True
    p = docker_cli("run", "--rm", "busybox", "/no/such/binary", check=False)
    assert p.returncode in (126, 127)


def test_run_detached_logs_exec_stop_rm(docker_cli, busybox_image, api_cleanup):
    api_cleanup.append("apicli")
    cid = docker_cli("run", "-d", "--name", "apicli", "busybox", "sh", "-c",
                     "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    ps = docker_cli("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert "apicli Up" in ps
    p = docker_cli("exec", "apicli", "sh", "-c", "echo in-exec; echo e >&2; exit 4", check=False)
    assert (p.returncode, p.stdout) == (4, "in-exec\n") and "e\n" in p.stderr
    assert docker_cli("exec", "-e", "X=1", "-w", "/tmp", "apicli", "sh", "-c", "echo $X $PWD").stdout == "1 /tmp\n"
    assert docker_cli("logs", "apicli").stdout == "started\n"
    insp = json.loads(docker_cli("inspect", "apicli").stdout)[0]
    assert insp["Id"] == cid and insp["State"]["Running"] is True and insp["Name"] == "/apicli"
    assert docker_cli("top", "apicli").returncode == 0
    docker_cli("rename", "apicli", "apicli2")
    api_cleanup.append("apicli2")
    docker_cli("stop", "-t", "5", "apicli2")
    st = json.loads(docker_cli("inspect", "apicli2").stdout)[0]["State"]
    assert st["Running"] is False and st["ExitCode"] == 0
    docker_cli("rm", "apicli2")
    assert docker_cli("inspect", "apicli2", check=False).returncode == 1


def test_logs_follow_until_exit(docker_cli, busybox_image, api_cleanup):
    api_cleanup.append("apifollow")
    docker_cli("run", "-d", "--name", "apifollow", "busybox", "sh", "-c",
               "for i in 1 2 3; do echo line$i; sleep 0.3; done")
    p = docker_cli("logs", "-f", "-t", "apifollow", timeout=30)
    lines = p.stdout.splitlines()
    assert [l.split(" ", 1)[1] for l in lines] == ["line1", "line2", "line3"]
    assert docker_cli("logs", "--tail", "1", "apifollow").stdout == "line3\n"
    assert docker_cli("wait", "apifollow").stdout.strip() == "0"


def test_run_interactive_tty(docker_cli, busybox_image):
    if not shutil.which("script"):
        pytest.skip("needs script(1) from util-linux for a pty")
    cmd = f"{docker_cli.exe} run -it --rm busybox sh -c 'tty; read x; echo got-$x; exit 5'"
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], input="hello\n", capture_output=True,
                       text=True, env=docker_cli.env, timeout=60)
    assert "/dev/pts/" in p.stdout and "got-hello" in p.stdout
    assert p.returncode == 5


def test_run_interactive_stdin_without_tty(docker_cli, busybox_image):
    p = docker_cli("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", input="piped\n")
    assert p.stdout == "piped\ndone\n"
    p = docker_cli("run", "-d", "--name", "apiexeci", "busybox", "sleep", "30")
    try:
        q = docker_cli("exec", "-i", "apiexeci", "sh", "-c", "tr a-z A-Z", input="shout\n")
        assert q.stdout == "SHOUT\n"
    finally:
        docker_cli("rm", "-f", "apiexeci")


def test_cp_both_ways(docker_cli, busybox_image, tmp_path, api_cleanup):
    api_cleanup.append("apicp")
    docker_cli("run", "-d", "--name", "apicp", "busybox", "sleep", "30")
    (tmp_path / "in.txt").write_text("into the container\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("A")
    docker_cli("cp", tmp_path / "in.txt", "apicp:/tmp/")
    docker_cli("cp", tmp_path / "dir", "apicp:/tmp/dir")
    assert docker_cli("exec", "apicp", "cat", "/tmp/in.txt", "/tmp/dir/a").stdout == "into the container\nA"
    docker_cli("cp", "apicp:/tmp/in.txt", tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_text() == "into the container\n"
    docker_cli("cp", "apicp:/etc", tmp_path / "etc")
    assert (tmp_path / "etc" / "passwd").exists()
    p = docker_cli("cp", "apicp:/no/such", tmp_path / "x", check=False)
    assert p.returncode == 1 and "Could not find the file" in p.stderr


def test_volume_commands(docker_cli):
    docker_cli("volume", "create", "--label", "k=v", "apivol")
    assert "apivol" in docker_cli("volume", "ls", "-q").stdout.split()
    insp = json.loads(docker_cli("volume", "inspect", "apivol").stdout)[0]
    assert insp["Name"] == "apivol" and insp["Labels"] == {"k": "v"} and insp["Driver"] == "zfs"
    docker_cli("volume", "rm", "apivol")
    p = docker_cli("volume", "inspect", "apivol", check=False)
    assert p.returncode == 1


def test_legacy_build(docker_cli, busybox_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG V=1\nCOPY f /f\nRUN echo v$V >> /f\n"
                                         'CMD ["cat", "/f"]\n')
    (tmp_path / "f").write_text("file\n")
    p = docker_cli("build", "-t", "apibuilt:1", "--build-arg", "V=9", "--label", "l=x", tmp_path,
                   timeout=180)
    assert "Successfully built" in p.stdout and "Successfully tagged apibuilt:1" in p.stdout
    try:
        assert docker_cli("run", "--rm", "apibuilt:1").stdout == "file\nv9\n"
        labels = json.loads(docker_cli("image", "inspect", "apibuilt:1").stdout)[0]["Config"]["Labels"]
        assert labels == {"l": "x"}
        (tmp_path / "Dockerfile.bad").write_text("FROM busybox\nRUN exit 3\n")
        p = docker_cli("build", "-f", tmp_path / "Dockerfile.bad", tmp_path, check=False)
        assert p.returncode != 0
        assert "returned a non-zero code: 3" in p.stderr
    finally:
        docker_cli("rmi", "apibuilt:1")


def test_save_load_tag_rmi(docker_cli, busybox_image, tmp_path):
    docker_cli("tag", "busybox", "apitagged:x")
    assert "apitagged:x" in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    docker_cli("save", "-o", tmp_path / "img.tar", "apitagged:x")
    with tarfile.open(tmp_path / "img.tar") as t:
        assert "index.json" in t.getnames() or "manifest.json" in t.getnames()
    docker_cli("rmi", "apitagged:x")
    assert "apitagged:x" not in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    p = docker_cli("rmi", "apitagged:x", check=False)
    assert p.returncode == 1 and "No such image" in p.stderr


def test_stats_no_stream(docker_cli, busybox_image, api_cleanup):
    api_cleanup.append("apistats")
    docker_cli("run", "-d", "--name", "apistats", "busybox", "sh", "-c", "while :; do :; done")
    p = docker_cli("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}", "apistats",
                   timeout=60)
    name, cpu, pids = p.stdout.split()
    assert name == "apistats" and int(pids) >= 1
    assert float(cpu.rstrip("%")) > 0          # a busy loop uses CPU
    docker_cli("rm", "-f", "apistats")


def test_jocker_stats_cli_uses_the_same_engine_call(jocker, busybox_image, cleanup):
    cleanup.append("clistats")
    jocker("run", "-d", "--name", "clistats", "busybox", "sleep", "30")
    out = jocker("stats", "--no-stream", "clistats").stdout.splitlines()
    assert out[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    cells = out[1].split()
    assert cells[1] == "clistats" and cells[2].endswith("%") and cells[-1] == "1"


def test_pause_unpause(docker_cli, jocker, busybox_image, api_cleanup, wait_for):
    api_cleanup.append("apipause")
    docker_cli("run", "-d", "--name", "apipause", "busybox", "sh", "-c",
               "i=0; while :; do i=$((i+1)); echo $i > /n; sleep 0.1; done")
    root = json.loads(docker_cli("inspect", "apipause").stdout)[0]["GraphDriver"]["Data"]["Mountpoint"]
    assert wait_for(lambda: os.path.exists(f"{root}/n"))
    docker_cli("pause", "apipause")
    st = json.loads(docker_cli("inspect", "apipause").stdout)[0]["State"]
    assert st["Status"] == "paused" and st["Paused"] is True and st["Running"] is True
    assert "(Paused)" in docker_cli("ps", "--format", "{{.Status}}", "--filter", "name=apipause").stdout
    first = open(f"{root}/n").read()
    import time
    time.sleep(0.5)
    assert open(f"{root}/n").read() == first          # frozen
    p = docker_cli("pause", "apipause", check=False)
    assert p.returncode == 1 and "already paused" in p.stderr
    jocker("unpause", "apipause")                          # the CLI, same engine call
    time.sleep(0.5)
    assert open(f"{root}/n").read() != first
    assert json.loads(docker_cli("inspect", "apipause").stdout)[0]["State"]["Status"] == "running"
    docker_cli("pause", "apipause")
    docker_cli("stop", "-t", "2", "apipause")              # a paused container still stops
    assert json.loads(docker_cli("inspect", "apipause").stdout)[0]["State"]["Status"] == "exited"
