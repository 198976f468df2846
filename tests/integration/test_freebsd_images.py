"""FreeBSD's official OCI images, as hand-written fixtures (tests/data/freebsd-oci):
platform selection from a FreeBSD-only index, configs without Cmd, history,
and the release's OCI-layout .txz loaded as it is."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import platform
import tarfile
from pathlib import Path

import pytest

from registry_fixtures import Registry, need, put_blob, put_manifest

DATA = Path(__file__).resolve().parents[1] / "data" / "freebsd-oci"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(gzip blob, diff ID) of a layer holding files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in tar.getnames():
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    plain = buf.getvalue()
    return gzip.compress(plain, mtime=0), _digest(plain)


LAYERS = [_layer({"etc/passwd": b"root:*:0:0::0:0:Charlie &:/root:/bin/sh\n",
                  "usr/share/zoneinfo/UTC": b"TZif2"}),                         # static
          _layer({"lib/libc.so.7": b"\x7fELF fake libc"}),                       # dynamic
          _layer({"bin/sh": b"\x7fELF fake sh"})]                                 # runtime


def image(kind: str, arch: str) -> tuple[dict, bytes, list[tuple[bytes, str]]]:
    """(manifest, config bytes, layers) for freebsd-<kind> on arch."""
    layers = LAYERS[:1] if kind == "static" else LAYERS
    cfg = json.loads((DATA / f"config-{kind}.json").read_text())
    cfg["architecture"] = arch
    cfg["rootfs"]["diff_ids"] = [d for _, d in layers]
    raw = json.dumps(cfg, separators=(",", ":")).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _digest(raw), "size": len(raw)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": _digest(b), "size": len(b)} for b, _ in layers]}
    return manifest, raw, layers


@pytest.fixture(scope="module")
def freebsd_registry(tmp_path_factory):
    """A registry holding freebsd/freebsd-{static,runtime}:15.0 as FreeBSD-only
    indexes for amd64 and arm64, as docker.io/freebsd has them."""
    reason = need("docker-registry")
    if reason:
        pytest.skip(reason)
    reg = Registry(tmp_path_factory.mktemp("fbsd-registry"))
    try:
        for kind in ("static", "runtime"):
            repo = f"freebsd/freebsd-{kind}"
            entries = []
            for arch in ("amd64", "arm64"):
                manifest, raw, layers = image(kind, arch)
                for blob, _ in layers:
                    put_blob(reg.host, repo, blob)
                put_blob(reg.host, repo, raw)
                data = put_manifest(reg.host, repo, _digest(json.dumps(manifest).encode()), manifest,
                                     OCI_MANIFEST)
                entries.append({"mediaType": OCI_MANIFEST, "digest": _digest(data), "size": len(data),
                                "platform": {"os": "freebsd", "architecture": arch}})
            put_manifest(reg.host, repo, "15.0", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": entries}, OCI_INDEX)
        yield reg
    finally:
        reg.stop()


def test_platform_selection_from_a_freebsd_index(jocker, freebsd_registry, images):
    ref = f"{freebsd_registry.host}/freebsd/freebsd-runtime:15.0"
    res = jocker("pull", ref, check=False)
    if platform.system() != "FreeBSD":
        assert res.returncode != 0
        assert "no matching manifest for linux/" in res.stderr
        assert "available: freebsd/amd64, freebsd/arm64" in res.stderr
    images.append(ref)
    jocker("pull", "--platform", "freebsd/arm64", ref)
    info = json.loads(jocker("inspect", ref).stdout)[0]
    assert (info["Os"], info["Architecture"]) == ("freebsd", "arm64")
    assert info["Config"]["Cmd"] == ["/bin/sh"]
    assert info["RootFS"]["Layers"] == [d for _, d in LAYERS]
    assert len(info["RepoDigests"]) == 1
    hist = jocker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).stdout.split("\n")
    assert "make-oci-image.sh runtime" in hist[0]


def test_static_image_has_no_cmd_and_shares_the_base_layer(jocker, freebsd_registry, images):
    ref = f"{freebsd_registry.host}/freebsd/freebsd-static:15.0"
    runtime = f"{freebsd_registry.host}/freebsd/freebsd-runtime:15.0"
    images += [ref, runtime]
    jocker("pull", "--platform", "freebsd/arm64", runtime)
    out = jocker("pull", "--platform", "freebsd/arm64", ref).stdout
    info = json.loads(jocker("inspect", ref).stdout)[0]
    assert not info["Config"].get("Cmd") and not info["Config"].get("Entrypoint")
    assert "Already exists" in out and "Downloading" not in out     # the static layer is shared
    res = jocker("pull", "--platform", "windows/amd64", ref, check=False)
    assert res.returncode != 0 and "windows/amd64" in res.stderr and "freebsd/arm64" in res.stderr


def test_release_oci_layout_txz_loads(jocker, tmp_path, images):
    """download.freebsd.org's FreeBSD-15.0-RELEASE-amd64-container-image-runtime.txz:
    an OCI layout, xz-compressed, its index annotated with the ref name."""
    manifest, raw, layers = image("runtime", "amd64")
    mdata = json.dumps(manifest).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": _digest(mdata), "size": len(mdata),
            "annotations": {"org.opencontainers.image.ref.name": "freebsd-runtime:15.0-RELEASE-amd64"}}]}).encode())
        for blob in [mdata, raw] + [b for b, _ in layers]:
            add(f"blobs/sha256/{_digest(blob)[7:]}", blob)
    txz = tmp_path / "FreeBSD-15.0-RELEASE-amd64-container-image-runtime.txz"
    txz.write_bytes(lzma.compress(buf.getvalue()))
    images.append("freebsd-runtime:15.0-RELEASE-amd64")
    out = jocker("load", "-i", txz).stdout
    assert "Loaded image: freebsd-runtime:15.0-RELEASE-amd64" in out
    info = json.loads(jocker("inspect", "freebsd-runtime:15.0-RELEASE-amd64").stdout)[0]
    assert info["Id"] == _digest(raw) and info["Os"] == "freebsd"
