"""How layers travel: zstd layers (made by skopeo, pulled by jocker) and
transfers that are cut off half way and resumed, against Debian's
docker-registry on 127.0.0.1 (behind the tests' proxy for the cuts)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from registry_fixtures import Proxy, need, put_blob, put_manifest, registry  # noqa: F401  (registry: a fixture)


def _build(jocker, tmp_path, base, tag, text, extra=""):
    ctx = tmp_path / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo {text} > /hello{extra}\nCMD [\"cat\", \"/hello\"]\n")
    jocker("build", "-q", "-t", tag, ctx)


def _manifest(host: str, repo: str, ref: str) -> dict:
    import urllib.request
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return json.loads(urllib.request.urlopen(req).read())


def test_pull_of_zstd_layers_that_skopeo_recompressed(jocker, registry, busybox_image, tmp_path, images):
    reason = need("skopeo", "zstd")
    if reason:
        pytest.skip(reason)
    src = f"{registry.host}/zs/web:gzip"
    dst = f"{registry.host}/zs/web:zstd"
    images.extend([src, dst])
    _build(jocker, tmp_path, busybox_image, src, "compressed-with-zstd")
    jocker("push", src)
    want = json.loads(jocker("inspect", src).stdout)[0]
    # skopeo recompresses into an OCI directory (its blob cache cannot swap
    # in the gzip blobs there); the tests upload that as is
    oci = tmp_path / "oci-zstd"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-compress-format", "zstd",
                    f"docker://{src}", f"oci:{oci}:x"], capture_output=True, text=True, check=True)
    blob = lambda d: (oci / "blobs" / "sha256" / d[7:]).read_bytes()      # noqa: E731
    index = json.loads((oci / "index.json").read_text())
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    layers = manifest["layers"]
    assert {l["mediaType"] for l in layers} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    for desc in [manifest["config"], *layers]:
        assert blob(desc["digest"])[:4] == b"\x28\xb5\x2f\xfd" or desc is manifest["config"]
        put_blob(registry.host, "zs/web", blob(desc["digest"]))
    put_manifest(registry.host, "zs/web", "zstd", manifest, manifest["mediaType"])
    jocker("rmi", src)
    jocker("image", "prune", "-f")
    out = jocker("pull", dst).stdout
    assert "Pull complete" in out
    got = json.loads(jocker("inspect", dst).stdout)[0]
    assert got["RootFS"]["Layers"] == want["RootFS"]["Layers"]     # every diff ID verified on the way in
    assert jocker("run", "--rm", dst).stdout.strip() == "compressed-with-zstd"
    # the zstd blob of the layer it fetched is kept: a push elsewhere sends the
    # same bytes (the busybox layer was here already, with its own gzip blob)
    jocker("tag", dst, f"{registry.host}/zs/again:1")
    images.append(f"{registry.host}/zs/again:1")
    jocker("push", f"{registry.host}/zs/again:1")
    again = _manifest(registry.host, "zs/again", "1")["layers"]
    assert again[-1] == layers[-1]


def test_a_corrupt_zstd_layer_is_one_line_and_leaves_nothing(jocker, registry, zfs_names):
    reason = need("zstd")
    if reason:
        pytest.skip(reason)
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("f")
        data = os.urandom(200000)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    plain = buf.getvalue()
    blob = subprocess.run(["zstd", "-c", "-q"], input=plain, capture_output=True, check=True).stdout
    blob = blob[:len(blob) // 2] + bytes(64) + blob[len(blob) // 2 + 64:]     # digest matches, data is bad
    repo = "zs/corrupt"
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers",
                                 "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": put_blob(registry.host, repo, cfg), "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                            "digest": put_blob(registry.host, repo, blob), "size": len(blob)}]}
    put_manifest(registry.host, repo, "1", manifest, manifest["mediaType"])
    before = zfs_names()
    res = jocker("pull", f"{registry.host}/{repo}:1", check=False)
    err = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(err) == 1, res.stderr
    assert "corrupt zstd data" in err[0] and "layer 1/1" in err[0] and repo in err[0]
    assert zfs_names() == before


def _layer(name: str, size: int) -> bytes:
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        data = os.urandom(size)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("fault, expect", [
    ("corrupt-gzip", "corrupt"),            # found while streaming, after layer 1 was sealed
    ("wrong-diff-id", "diff ID mismatch"),  # the whole layer applied, then refused
])
def test_a_bad_upper_layer_leaves_no_layer_behind(jocker, registry, zfs_names, fault, expect):
    """Layer 1 of 2 is good and snapshotted (its unmount and readonly run on
    the sealer's thread) when layer 2 turns out bad: nothing stays."""
    import gzip
    good, bad = _layer("good", 3 << 20), _layer("bad", 3 << 20)
    blob = bytearray(gzip.compress(bad, compresslevel=1))
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in (good, bad)]
    if fault == "corrupt-gzip":
        blob[len(blob) // 2:len(blob) // 2 + 64] = bytes(64)     # the blob digest matches, its data is bad
    else:
        diff_ids[1] = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    repo = f"bad/{fault}"
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    layers = [gzip.compress(good, compresslevel=1), bytes(blob)]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": put_blob(registry.host, repo, cfg), "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": put_blob(registry.host, repo, b), "size": len(b)} for b in layers]}
    put_manifest(registry.host, repo, "1", manifest, manifest["mediaType"])
    before = zfs_names()
    res = jocker("pull", f"{registry.host}/{repo}:1", check=False)
    err = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(err) == 1, res.stderr
    assert expect in err[0] and "layer 2/2" in err[0] and repo in err[0], err[0]
    assert zfs_names() == before                 # layer 1 too: destroyed, not left to the collector
    assert repo not in jocker("images", "-a").stdout


@pytest.fixture(scope="module")
def shipped(jocker, registry, busybox_image, tmp_path_factory):
    """An image with a 3 MB layer of random data in the registry (not here)."""
    name = f"{registry.host}/resume/web:1"
    ctx = tmp_path_factory.mktemp("resume")
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN head -c 3000000 /dev/urandom > /big\n")
    jocker("build", "-q", "-t", name, ctx)
    jocker("push", name)
    layers = json.loads(jocker("inspect", name).stdout)[0]["RootFS"]["Layers"]
    jocker("rmi", name)
    jocker("image", "prune", "-f")
    layer = _manifest(registry.host, "resume/web", "1")["layers"][-1]
    yield "resume/web:1", layer, layers


@pytest.fixture
def proxy(registry):
    p = Proxy(registry.host)
    yield p
    p.stop()


def _blob_gets(proxy, digest):
    return [r for r in proxy.requests if r[0] == "GET" and digest in r[1]]


def test_a_download_cut_half_way_continues_with_a_range_request(jocker, shipped, proxy, images):
    name, layer, diff_ids = shipped
    ref = f"{proxy.host}/{name}"
    images.append(ref)
    proxy.faults[layer["digest"]] = "cut:1000000"
    proxy.bytes_out = 0
    out = jocker("pull", ref).stdout
    assert "Retrying from 1000000 bytes" in out
    gets = _blob_gets(proxy, layer["digest"])
    assert [g[2] for g in gets] == ["", "bytes=1000000-"]
    assert proxy.bytes_out < layer["size"] + 64 * 1024          # the cut part was not sent twice
    assert json.loads(jocker("inspect", ref).stdout)[0]["RootFS"]["Layers"] == diff_ids


def test_a_killed_pull_is_continued_by_the_next_pull(jocker, shipped, proxy, images, jocker_env):
    import signal
    import sys
    import time
    name, layer, diff_ids = shipped
    ref = f"{proxy.host}/{name}"
    images.append(ref)
    partial = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "blobs", "sha256", ".partial-" + layer["digest"][7:])
    proxy.faults[layer["digest"]] = "slow"          # 64 KiB every 50 ms
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "pull", "-q", ref], env=jocker_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not os.path.exists(partial) or
                                               os.path.getsize(partial) < 500000):
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = os.path.getsize(partial)
    assert 0 < kept < layer["size"]
    assert ref not in jocker("images", "-a").stdout
    jocker("image", "prune", "-f")                   # a partial blob waits to be resumed
    assert os.path.getsize(partial) == kept
    proxy.faults.clear()
    proxy.requests.clear()
    proxy.bytes_out = 0
    out = jocker("pull", ref).stdout
    assert f"Resuming at {kept} bytes" in out
    assert [g[2] for g in _blob_gets(proxy, layer["digest"])] == [f"bytes={kept}-"]
    assert proxy.bytes_out < layer["size"] - kept + 64 * 1024
    assert json.loads(jocker("inspect", ref).stdout)[0]["RootFS"]["Layers"] == diff_ids
    assert not os.path.exists(partial)


@pytest.fixture
def to_push(jocker, registry, proxy, busybox_image, tmp_path, images):
    """(repository, local name, name through the proxy) of a local image with
    a 3 MB layer of random data whose base layer the registry has already (so
    the only upload is the 3 MB, in 1 MB chunks)."""
    reason = need("skopeo")
    if reason:
        pytest.skip(reason)
    repo = f"up/{tmp_path.name[-12:].lower().replace('_', '')}"
    base = f"{registry.host}/{repo}:base"
    jocker("tag", busybox_image, base)
    jocker("push", base)
    jocker("rmi", base)
    name = f"{registry.host}/{repo}:1"
    images.append(name)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN head -c 3000000 /dev/urandom > /big\n")
    jocker("build", "-q", "-t", name, tmp_path / "ctx")
    ref = f"{proxy.host}/{repo}:1"
    images.append(ref)
    jocker("tag", name, ref)
    return repo, name, ref


def _patches(proxy):
    return [(r[2], r[3]) for r in proxy.requests if r[0] == "PATCH"]


def _wait_for_patches(proxy, n: int, timeout: float = 60) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_patches(proxy)) < n:
        time.sleep(0.05)


def _pulls_back(registry, repo, name, jocker):
    """skopeo copies what was pushed (every blob digest checked) and its
    layers match the local image's."""
    import tempfile
    dest = tempfile.mkdtemp(prefix="jocker-resume-")
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.host}/{repo}:1",
                    f"oci:{dest}:x"], capture_output=True, text=True, check=True)
    man = _manifest(registry.host, repo, "1")
    cfg = json.loads(open(os.path.join(dest, "blobs", "sha256", man["config"]["digest"][7:])).read())
    assert cfg["rootfs"]["diff_ids"] == json.loads(jocker("inspect", name).stdout)[0]["RootFS"]["Layers"]
    subprocess.run(["rm", "-rf", dest])


CHUNKED = {"JOCKER_REGISTRY_CHUNK_SIZE": "1M"}


def test_a_chunk_lost_on_the_way_is_sent_again_and_only_from_there(jocker, registry, proxy, to_push):
    repo, name, ref = to_push
    proxy.faults["/blobs/uploads/"] = "cut:0@1"     # the second chunk's connection breaks
    out = jocker("push", ref, env=CHUNKED).stdout
    assert "Retrying from 1048576 bytes" in out
    patches = _patches(proxy)
    assert [p[0].split("-")[0] for p in patches[:3]] == ["0", "1048576", "1048576"]
    size = _manifest(registry.host, repo, "1")["layers"][-1]["size"]
    assert sum(n for _, n in patches[2:]) == size - 1048576     # the first chunk is not sent again
    _pulls_back(registry, repo, name, jocker)


def test_a_chunk_cut_half_way_starts_the_blob_again(jocker, registry, proxy, to_push):
    """Part of the chunk landed: Docker's registry cancels the session (its
    state token names fewer bytes); jocker starts a new one and succeeds."""
    repo, name, ref = to_push
    proxy.faults["/blobs/uploads/"] = "cut:500000@1"
    out = jocker("push", ref, env=CHUNKED).stdout
    assert "Retrying from 0 bytes" in out
    assert [p[0].split("-")[0] for p in _patches(proxy)[:3]] == ["0", "1048576", "0"]
    _pulls_back(registry, repo, name, jocker)


def test_a_killed_push_is_continued_by_the_next_push(jocker, registry, proxy, to_push, jocker_env):
    import signal
    import sys
    import time
    repo, name, ref = to_push
    proxy.faults["/blobs/uploads/"] = "hang:2"           # two chunks go through, then it hangs
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "push", "-q", ref], env={**jocker_env, **CHUNKED},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_patches(proxy, 3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(_patches(proxy)) == 3
    proxy.faults.clear()
    proxy.requests.clear()
    out = jocker("push", ref, env=CHUNKED).stdout
    assert "Resuming at 2097152 bytes" in out
    patches = _patches(proxy)
    assert patches[0][0].startswith("2097152-")
    assert sum(n for _, n in patches) == _manifest(registry.host, repo, "1")["layers"][-1]["size"] - 2097152
    _pulls_back(registry, repo, name, jocker)



def test_a_push_leases_its_image_while_it_uploads(jocker, registry, proxy, to_push, jocker_env):
    """rmi of an image whose push hangs on a slow registry refuses in one
    line naming the pushing process (the blobs it reads stay too)."""
    import signal
    import sys
    import time
    repo, name, ref = to_push
    jocker("rmi", name)                     # only `ref` names the image now
    proxy.faults["/blobs/uploads/"] = "hang:1"
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "push", "-q", ref], env={**jocker_env, **CHUNKED},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_patches(proxy, 2)
        assert len(_patches(proxy)) == 2
        res = jocker("rmi", ref, check=False)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 1 and len(lines) == 1 and f"pid {proc.pid}" in lines[0], res.stderr
        assert ref in jocker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
