"""`jocker image send | jocker image receive` between two jocker roots on
two pools (standing in for two hosts): whole images, incremental sends with
--have, content checks, and truncated streams that leave nothing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import pytest

_HOSTS = itertools.count()


@pytest.fixture(scope="module")
def host2(zfs_pool, jocker_env):
    """A second jocker on its own pool: the receiving host (this session's
    network prefix, so its objects are cleaned with the session's, and a
    subnet pool of its own)."""
    # One per module that uses it (test_registry_zstd and others import it):
    # its own directory and pool name, so a pool an earlier module could not
    # destroy at once ("busy") never collides with the next one.
    n = next(_HOSTS)
    work = zfs_pool["workdir"] / f"host2-{n}"
    work.mkdir()
    img = work / "pool.img"
    with open(img, "wb") as f:
        f.truncate(512 << 20)
    pool = f"{zfs_pool['pool']}h2x{n}"
    subprocess.run(["zpool", "create", "-m", "none", pool, str(img)], check=True, capture_output=True)
    conf = work / "jocker.conf"
    conf.write_text("# host2\n")
    env = {**jocker_env, "JOCKER_CONFIG": str(conf), "JOCKER_DATASET": f"{pool}/jocker",
           "JOCKER_MOUNTPOINT": str(work / "mnt"), "JOCKER_RUNDIR": str(work / "run"),
           "JOCKER_NETWORK_POOL": f"10.{100 + (os.getpid() + 75) % 150}.0.0/16"}
    subprocess.run([sys.executable, "-m", "jocker", "system", "init"], env=env, check=True, capture_output=True)
    yield env
    # A just-used pool can answer "busy" for a moment (zfs-fuse releasing
    # its mounts): retry rather than leave it behind on a shared machine.
    for delay in (0, 0.2, 0.5, 1, 2, 4):
        time.sleep(delay)
        if subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True).returncode == 0:
            break


def _pipe(jocker_env, host2, send_args, *, cut: int | None = None):
    send = subprocess.run([sys.executable, "-m", "jocker", "image", "send", *send_args],
                          env=jocker_env, capture_output=True, check=True)
    data = send.stdout if cut is None else send.stdout[:cut]
    return subprocess.run([sys.executable, "-m", "jocker", "image", "receive"], input=data,
                          env=host2, capture_output=True, text=False), len(send.stdout)


def _h2(host2, *args, check=True):
    res = subprocess.run([sys.executable, "-m", "jocker", *args], env=host2, capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def test_send_receive_whole_then_incremental(jocker, jocker_env, busybox_image, host2, tmp_path, images):
    images += ["ship/zfs:1", "ship/zfs:2"]
    for tag, text in (("ship/zfs:1", "first"), ("ship/zfs:2", "second")):
        ctx = tmp_path / text
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {text} > /hello\nCMD [\"cat\", \"/hello\"]\n")
        jocker("build", "-q", "-t", tag, ctx)
    res, full = _pipe(jocker_env, host2, ["ship/zfs:1"])
    assert res.returncode == 0, res.stderr
    assert b"Loaded image: ship/zfs:1" in res.stdout
    one = json.loads(jocker("inspect", "ship/zfs:1").stdout)[0]
    there = json.loads(_h2(host2, "inspect", "ship/zfs:1").stdout)[0]
    assert there["Id"] == one["Id"] and there["RootFS"] == one["RootFS"]
    assert _h2(host2, "run", "--rm", "ship/zfs:1").stdout.strip() == "first"
    # the second image shares the busybox layer: with --have only its own layer travels
    have = tmp_path / "have.json"
    have.write_text(_h2(host2, "image", "have").stdout)
    res, incremental = _pipe(jocker_env, host2, ["--have", str(have), "ship/zfs:2"])
    assert res.returncode == 0
    assert incremental < full / 2
    assert _h2(host2, "run", "--rm", "ship/zfs:2").stdout.strip() == "second"
    # host2's copy pushes and saves like any image: its layers are the same tars
    out = tmp_path / "h2.tar"
    _h2(host2, "save", "-o", str(out), "ship/zfs:2")
    _h2(host2, "rmi", "ship/zfs:1", "ship/zfs:2")


def test_truncated_or_foreign_streams_leave_nothing(jocker, jocker_env, busybox_image, host2, tmp_path):
    before = _h2(host2, "system", "df").stdout
    datasets = lambda: subprocess.run(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name",   # noqa: E731
                                       host2["JOCKER_DATASET"]], capture_output=True, text=True).stdout
    start = datasets()
    _, size = _pipe(jocker_env, host2, [busybox_image], cut=0)
    res, _ = _pipe(jocker_env, host2, [busybox_image], cut=size - 1000)
    assert res.returncode != 0 and b"ended early" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert datasets() == start
    bad = subprocess.run([sys.executable, "-m", "jocker", "image", "receive"], input=b"hello",
                         env=host2, capture_output=True)
    assert bad.returncode != 0 and b"not a jocker image stream" in bad.stderr
    # the receiver lacks a layer the sender was told it has
    fake = tmp_path / "fake.json"
    guids = json.loads(jocker("image", "have").stdout)["layers"]
    fake.write_text(json.dumps({"layers": guids}))
    res, _ = _pipe(jocker_env, host2, ["--have", str(fake), busybox_image])
    assert res.returncode != 0 and b"does not have it" in res.stderr
    assert datasets() == start
    del before


def test_a_corrupt_layer_stream_is_refused_by_zfs_receive_and_leaves_nothing(jocker_env, busybox_image,
                                                                               host2):
    """The layer's stream is piped into `zfs receive`: damaged bytes in its
    middle make the receive fail (its stream checksum) while the rest of the
    layer is still read off the pipe; one line, nothing left."""
    datasets = lambda: subprocess.run(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name",   # noqa: E731
                                       host2["JOCKER_DATASET"]], capture_output=True, text=True).stdout
    start = datasets()
    send = subprocess.run([sys.executable, "-m", "jocker", "image", "send", "--no-blobs", busybox_image],
                          env=jocker_env, capture_output=True, check=True)
    data = bytearray(send.stdout)
    eol = data.index(b"\n", data.index(b"\n") + 1)            # magic line, then the header length
    body = eol + 1 + int(data[data.index(b"\n") + 1:eol])
    size = json.loads(data[eol + 1:body])["layers"][0]["size"]
    mid = body + size // 2
    data[mid:mid + 4096] = bytes(b ^ 0xFF for b in data[mid:mid + 4096])
    res = subprocess.run([sys.executable, "-m", "jocker", "image", "receive"], input=bytes(data),
                         env=host2, capture_output=True)
    err = res.stderr.decode().strip().splitlines()
    assert res.returncode != 0 and len(err) == 1, res.stderr
    assert "zfs receive failed" in err[0] and "layer 1/1" in err[0], err[0]
    assert datasets() == start


def _saved_layers(path) -> tuple[list[str], list[str]]:
    """(layer blob paths of manifest.json, manifest digests of index.json) of a save."""
    import tarfile
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    return manifest[0]["Layers"], [m["digest"] for m in index["manifests"]]


def test_layer_blobs_travel_so_the_receiver_exports_the_same_digests(jocker, jocker_env, busybox_image,
                                                                   host2, tmp_path, images):
    images.append("ship/blobs:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN head -c 300000 /dev/urandom > /r\n")
    jocker("build", "-q", "-t", "ship/blobs:1", ctx)
    jocker("save", "-o", tmp_path / "here.tar", "ship/blobs:1")        # makes the gzip blobs
    want = _saved_layers(tmp_path / "here.tar")
    h2blobs = os.path.join(host2["JOCKER_MOUNTPOINT"], "blobs", "sha256")
    try:
        res, without = _pipe(jocker_env, host2, ["--no-blobs", "ship/blobs:1"])
        assert res.returncode == 0, res.stderr
        assert not any(os.path.exists(os.path.join(h2blobs, os.path.basename(p))) for p in want[0])
        _h2(host2, "rmi", "ship/blobs:1")
        _h2(host2, "image", "prune", "-f")
        res, size = _pipe(jocker_env, host2, ["ship/blobs:1"])
        assert res.returncode == 0, res.stderr
        assert size > without + 300000                                  # the blobs came along
        for p in want[0]:
            assert os.path.exists(os.path.join(h2blobs, os.path.basename(p)))
        _h2(host2, "save", "-o", str(tmp_path / "there.tar"), "ship/blobs:1")
        assert _saved_layers(tmp_path / "there.tar") == want           # same blobs, same manifest
    finally:
        _h2(host2, "rmi", "ship/blobs:1", check=False)
        _h2(host2, "image", "prune", "-f", check=False)


def test_send_leases_the_image_and_its_blobs_while_it_streams(jocker, jocker_env, busybox_image, host2,
                                                            tmp_path):
    """A send blocked on a slow reader (an ssh pipe) holds its image: rmi
    refuses with one line naming the process, and the stream, read
    afterwards, is received whole. (An image of its own, with one tag: rmi
    of one of several tags only untags, lease or not.)"""
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nLABEL leased=1\n")
    jocker("build", "-q", "-t", "leased:1", str(tmp_path))
    send = subprocess.Popen([sys.executable, "-m", "jocker", "image", "send", "leased:1"],
                            env=jocker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = send.stdout.read(4096)          # it has started; the pipe is now full
        time.sleep(1)
        res = jocker("rmi", "leased:1", check=False)
        assert res.returncode == 1 and f"pid {send.pid}" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        rest = send.stdout.read()
        assert send.wait(60) == 0, send.stderr.read()
    finally:
        if send.poll() is None:
            send.kill()
            send.wait()
    recv = subprocess.run([sys.executable, "-m", "jocker", "image", "receive"], input=first + rest,
                          env=host2, capture_output=True)
    assert recv.returncode == 0, recv.stderr
    assert "leased:1" in _h2(host2, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    jocker("rmi", "leased:1")                   # the lease ended with the send
    _h2(host2, "rmi", "leased:1")
