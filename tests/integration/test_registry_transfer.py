"""How layers travel: zstd layers (made by skopeo, pulled by jocker) and
transfers that are cut off half way and resumed, against Debian's
docker-registry on 127.0.0.1 (behind the tests' proxy for the cuts)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from registry_fixtures import Proxy, module_registry, need, put_blob, put_manifest


registry = pytest.fixture(scope="module", name="registry")(module_registry)


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
