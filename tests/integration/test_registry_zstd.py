"""`jocker push --compression-format zstd` against Debian's docker-registry on
127.0.0.1: OCI manifests with zstd layers that skopeo and podman read, blobs
made once and kept beside the gzip ones, pruned with their layer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from registry_fixtures import Podman, need, registry  # noqa: F401  (registry: a fixture)
from test_zfs_ship import _h2, _pipe, host2  # noqa: F401  (host2: a second jocker on its own pool)

ZSTD_MT = "application/vnd.oci.image.layer.v1.tar+zstd"
GZIP_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.fixture(autouse=True)
def _zstd():
    reason = need("zstd")
    if reason:
        pytest.skip(reason)


def _build(jocker, tmp_path, base, images, tag, text):
    images.append(tag)
    ctx = tmp_path / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    ctx.mkdir()
    # some compressible bytes beside the text, so gzip and zstd blobs differ in size
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo {text} > /hello && seq 1 20000 > /numbers\n"
                                    "CMD [\"cat\", \"/hello\"]\n")
    jocker("build", "-q", "-t", tag, ctx)


def _manifest(host: str, repo: str, ref: str) -> tuple[str, dict]:
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    resp = urllib.request.urlopen(req)
    return resp.headers["Content-Type"], json.loads(resp.read())


def _blob_files(env) -> set[str]:
    d = os.path.join(env["JOCKER_MOUNTPOINT"], "blobs", "sha256")
    return {"sha256:" + n for n in os.listdir(d) if not n.startswith(".")}


def _digest_of(out: str) -> str:
    return out.split("digest: ")[1].split()[0]


def test_zstd_push_skopeo_reads_it_and_gzip_push_is_unchanged(jocker, jocker_env, registry, busybox_image,
                                                              tmp_path, images):
    reason = need("skopeo")
    if reason:
        pytest.skip(reason)
    repo = "zpush/web"
    name = f"{registry.host}/{repo}:gz"
    _build(jocker, tmp_path, busybox_image, images, name, "zstd-pushed")
    local = json.loads(jocker("inspect", name).stdout)[0]
    jocker("push", name)
    _, gz = _manifest(registry.host, repo, "gz")
    assert {l["mediaType"] for l in gz["layers"]} == {GZIP_MT}

    zname = f"{registry.host}/{repo}:zst"
    images.append(zname)
    jocker("tag", name, zname)
    out = jocker("push", "--compression-format", "zstd", zname).stdout
    assert "zst: digest: sha256:" in out
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{zname}"],
                         capture_output=True, text=True, check=True)
    zs = json.loads(raw.stdout)
    assert zs["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [l["mediaType"] for l in zs["layers"]] == [ZSTD_MT] * len(gz["layers"])
    assert zs["config"] == gz["config"]               # the same image: same config, same diff IDs
    assert not {l["digest"] for l in zs["layers"]} & {l["digest"] for l in gz["layers"]}
    # skopeo copies it into an OCI layout, verifying every digest on the way
    dest = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{zname}", f"oci:{dest}:x"],
                   capture_output=True, text=True, check=True)
    for layer in zs["layers"]:
        assert (dest / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()[:4] == ZSTD_MAGIC
    config = json.loads((dest / "blobs" / "sha256" / zs["config"]["digest"][7:]).read_text())
    assert config["rootfs"]["diff_ids"] == local["RootFS"]["Layers"]

    # a second zstd push: every blob already in the registry, no blob made
    before = _blob_files(jocker_env)
    again = jocker("push", "--compression-format", "zstd", zname).stdout
    assert "Layer already exists" in again and "Pushed" not in again and "Preparing" not in again
    assert _digest_of(again) == _digest_of(out)
    assert _blob_files(jocker_env) == before
    # gzip afterwards (asked for, and by default): the gzip blobs of the first push
    for args, tag in ((["--compression-format", "gzip"], "gz2"), ([], "gz3")):
        jocker("tag", name, f"{registry.host}/{repo}:{tag}")
        images.append(f"{registry.host}/{repo}:{tag}")
        jocker("push", *args, f"{registry.host}/{repo}:{tag}")
        assert _manifest(registry.host, repo, tag)[1]["layers"] == gz["layers"]
    assert _blob_files(jocker_env) == before

    # rmi, pull the zstd image, run it
    for t in ("gz", "gz2", "gz3"):
        jocker("rmi", f"{registry.host}/{repo}:{t}")
    jocker("rmi", zname)
    jocker("image", "prune", "-f")
    pulled = jocker("pull", zname).stdout
    assert f"Digest: {_digest_of(out)}" in pulled
    got = json.loads(jocker("inspect", zname).stdout)[0]
    assert got["Id"] == local["Id"] and got["RootFS"]["Layers"] == local["RootFS"]["Layers"]
    assert jocker("run", "--rm", zname).stdout.strip() == "zstd-pushed"
    # the pulled zstd layer pushed as gzip: decompressed, its diff ID checked,
    # gzip-compressed to the very bytes of the first gzip push (same tar)
    jocker("tag", zname, f"{registry.host}/{repo}:back")
    images.append(f"{registry.host}/{repo}:back")
    jocker("push", "--compression-format", "gzip", f"{registry.host}/{repo}:back")
    assert _manifest(registry.host, repo, "back")[1]["layers"] == gz["layers"]


def test_podman_pulls_and_runs_a_zstd_image(jocker, registry, busybox_image, tmp_path, images):
    reason = need("podman")
    if reason:
        pytest.skip(reason)
    name = f"{registry.host}/zpod/web:1"
    _build(jocker, tmp_path, busybox_image, images, name, "zstd-for-podman")
    jocker("push", "--compression-format", "zstd", name)
    assert {l["mediaType"] for l in _manifest(registry.host, "zpod/web", "1")[1]["layers"]} == {ZSTD_MT}
    pod = Podman(tmp_path)
    try:
        pod("pull", "--tls-verify=false", name)
        # runc, and ulimits within this host's hard limits: crun refuses the
        # workbench's hybrid cgroups, and both refuse to raise rlimits here
        runtime = ["--runtime", "runc"] if shutil.which("runc") else []
        run = pod(*runtime, "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                  "--ulimit", "nproc=1024:1024", name, check=False)
        if run.returncode == 0:
            assert run.stdout.strip() == "zstd-for-podman"
        else:       # podman run needs cgroups a CI container may not have: read the file instead
            assert pod.file_of(name, "/hello") == b"zstd-for-podman\n", run.stderr
    finally:
        pod.close()


def test_prune_keeps_both_blobs_of_a_live_layer_and_removes_them_with_it(jocker, jocker_env, registry,
                                                                         busybox_image, tmp_path, images):
    name = f"{registry.host}/zprune/web:1"
    _build(jocker, tmp_path, busybox_image, images, name, "pruned")
    jocker("push", name)
    jocker("push", "--compression-format", "zstd", "--compression-level", "19", f"{registry.host}/zprune/web:1")
    _, zs = _manifest(registry.host, "zprune/web", "1")
    assert {l["mediaType"] for l in zs["layers"]} == {ZSTD_MT}
    jocker("tag", name, f"{registry.host}/zprune/web:2")
    images.append(f"{registry.host}/zprune/web:2")
    jocker("push", "--compression-format", "gzip", f"{registry.host}/zprune/web:2")
    _, gz = _manifest(registry.host, "zprune/web", "2")
    top = {gz["layers"][-1]["digest"], zs["layers"][-1]["digest"]}
    base = {gz["layers"][0]["digest"], zs["layers"][0]["digest"]}
    assert top | base <= _blob_files(jocker_env)
    jocker("image", "prune", "-f")
    assert top | base <= _blob_files(jocker_env)        # the layers live: both blobs of each kept
    jocker("rmi", name, f"{registry.host}/zprune/web:2")
    files = _blob_files(jocker_env)
    assert not top & files                              # its layer gone: both blobs gone
    assert base <= files                                # busybox still holds the base layer


@pytest.mark.parametrize("args,env,expect", [
    (["--compression-format", "lz4"], {}, "invalid compression format 'lz4'"),
    (["--compression-format", "zstd", "--compression-level", "30"], {}, "invalid zstd compression level 30"),
    (["--compression-level", "0"], {}, "invalid gzip compression level 0"),
    ([], {"JOCKER_PUSH_COMPRESSION": "brotli"}, "configuration push_compression='brotli'"),
])
def test_a_bad_compression_is_one_line(jocker, registry, busybox_image, images, args, env, expect):
    name = f"{registry.host}/zbad/web:1"
    images.append(name)
    jocker("tag", busybox_image, name)
    res = jocker("push", *args, name, check=False, env=env)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 125 and len(err) == 1 and expect in err[0], res.stderr
    with pytest.raises(urllib.error.HTTPError):         # nothing pushed
        _manifest(registry.host, "zbad/web", "1")


def test_a_missing_zstd_is_one_line_naming_the_package(jocker, registry, busybox_image, tmp_path, images):
    # a PATH with every command of this one but zstd
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            if n != "zstd" and not (bindir / n).exists():
                os.symlink(os.path.join(d, n), bindir / n)
    name = f"{registry.host}/znozstd/web:1"
    _build(jocker, tmp_path, busybox_image, images, name, "no-zstd")
    res = jocker("push", "--compression-format", "zstd", name, check=False, env={"PATH": str(bindir)})
    err = res.stderr.strip().splitlines()
    assert res.returncode == 125 and len(err) == 1, res.stderr
    assert "zstd" in err[0] and "not installed" in err[0] and "apt-get install zstd" in err[0]
    with pytest.raises(urllib.error.HTTPError):         # nothing pushed
        _manifest(registry.host, "znozstd/web", "1")
    req = urllib.request.Request(f"http://{registry.host}/v2/znozstd/web/tags/list")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(req)


def test_image_send_receive_keeps_the_blob_list_working(jocker, jocker_env, registry, busybox_image, tmp_path,
                                                         images, host2):
    """A layer with a gzip and a zstd blob travels with its first blob; the
    receiver pushes gzip as is and makes the zstd blob again (the same bytes:
    same tar, same zstd, same level)."""
    name = f"{registry.host}/zship/web:1"
    _build(jocker, tmp_path, busybox_image, images, name, "shipped-both-ways")
    jocker("push", name)
    jocker("push", "--compression-format", "zstd", name)
    _, zs = _manifest(registry.host, "zship/web", "1")
    res, _ = _pipe(jocker_env, host2, [name])
    assert res.returncode == 0, res.stderr
    try:
        for args, tag in ((["--compression-format", "zstd"], "z"), (["--compression-format", "gzip"], "g")):
            there = f"{registry.host}/zship/there:{tag}"
            _h2(host2, "tag", name, there)
            _h2(host2, "push", *args, there)
        assert _manifest(registry.host, "zship/there", "z")[1]["layers"] == zs["layers"]
        _, gz_there = _manifest(registry.host, "zship/there", "g")
        jocker("push", "--compression-format", "gzip", name)
        assert gz_there["layers"] == _manifest(registry.host, "zship/web", "1")[1]["layers"]
        assert _h2(host2, "run", "--rm", name).stdout.strip() == "shipped-both-ways"
    finally:
        _h2(host2, "rmi", "-f", name, f"{registry.host}/zship/there:z", f"{registry.host}/zship/there:g",
            check=False)
        _h2(host2, "image", "prune", "-f", check=False)


def test_a_stored_blob_that_is_not_its_layer_is_refused_and_nothing_pushed(jocker, jocker_env, registry,
                                                                           busybox_image, tmp_path, images):
    import gzip
    name = f"{registry.host}/zdamaged/web:1"
    _build(jocker, tmp_path, busybox_image, images, name, "damaged")
    jocker("push", name)
    top = _manifest(registry.host, "zdamaged/web", "1")[1]["layers"][-1]["digest"]
    path = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "blobs", "sha256", top[7:])
    with open(path, "rb") as f:
        plain = bytearray(gzip.decompress(f.read()))
    plain[len(plain) // 2] ^= 0xFF                      # still gzip, no longer the layer's tar
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes(plain)))
    base = f"{registry.host}/zdamaged/base:1"           # the base layer's zstd blob made beforehand
    images.append(base)
    jocker("tag", busybox_image, base)
    jocker("push", "--compression-format", "zstd", base)
    before = _blob_files(jocker_env)
    again = f"{registry.host}/zdamaged/web:2"
    images.append(again)
    jocker("tag", name, again)
    res = jocker("push", "--compression-format", "zstd", again, check=False)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 125 and len(err) == 1 and "diff ID" in err[0] and "layer 2/2" in err[0], res.stderr
    with pytest.raises(urllib.error.HTTPError):         # nothing pushed
        _manifest(registry.host, "zdamaged/web", "2")
    assert _blob_files(jocker_env) == before            # and no blob kept
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]
