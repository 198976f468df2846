"""save/load: jocker's archives round-trip, share layers, and are read by
skopeo and podman; jocker reads what they write."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from registry_fixtures import Podman, need
from support import layer_tar


def _build(jocker, tmp_path, tag, text):
    ctx = tmp_path / f"ctx-{text}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {text} > /hello\nCMD [\"cat\", \"/hello\"]\n")
    jocker("build", "-q", "-t", tag, ctx)


def test_save_load_round_trip_shares_layers(jocker, busybox_image, tmp_path, images):
    images += ["arch/one:1", "arch/two:1"]
    _build(jocker, tmp_path, "arch/one:1", "one")
    _build(jocker, tmp_path, "arch/two:1", "two")
    ids = {n: json.loads(jocker("inspect", n).stdout)[0]["Id"] for n in ("arch/one:1", "arch/two:1")}
    out = tmp_path / "both.tar"
    jocker("save", "-o", out, "arch/one:1", "arch/two:1")
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= set(names)
    assert [m["RepoTags"] for m in manifest] == [["arch/one:1"], ["arch/two:1"]]
    assert manifest[0]["Layers"][0] == manifest[1]["Layers"][0]       # the shared busybox layer
    assert len([n for n in names if n.startswith("blobs/")]) == len(set(names) & {n for n in names if n.startswith("blobs/")})
    assert len(index["manifests"]) == 2
    jocker("rmi", "arch/one:1", "arch/two:1")
    res = jocker("load", "-i", out)
    assert "Loaded image: arch/one:1" in res.stdout and "Loaded image: arch/two:1" in res.stdout
    for n, iid in ids.items():
        assert json.loads(jocker("inspect", n).stdout)[0]["Id"] == iid
    assert jocker("run", "--rm", "arch/two:1").stdout.strip() == "two"
    # stdout and stdin
    data = subprocess.run([*jocker_cmd(jocker), "save", "arch/one:1"], capture_output=True,
                          env=jocker.env, check=True).stdout
    jocker("rmi", "arch/one:1")
    proc = subprocess.run([*jocker_cmd(jocker), "load"], input=data, capture_output=True, env=jocker.env)
    assert proc.returncode == 0 and b"Loaded image: arch/one:1" in proc.stdout


def jocker_cmd(jocker):
    import sys
    return [sys.executable, "-m", "jocker"]


def test_load_refuses_bad_archives(jocker, tmp_path, zfs_names):
    before = zfs_names()
    res = jocker("load", "-i", __file__, check=False)
    assert res.returncode == 125 and "invalid or truncated image archive" in res.stderr
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    res = jocker("load", "-i", evil, check=False)
    assert res.returncode == 125 and "escapes" in res.stderr
    assert zfs_names() == before


def test_truncated_save_output_loads_nothing(jocker, busybox_image, tmp_path, zfs_names, images):
    images.append("arch/trunc:1")
    _build(jocker, tmp_path, "arch/trunc:1", "trunc")
    out = tmp_path / "t.tar"
    jocker("save", "-o", out, "arch/trunc:1")
    jocker("rmi", "arch/trunc:1")
    before = zfs_names()
    data = out.read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    res = jocker("load", "-i", tmp_path / "cut.tar", check=False)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    assert zfs_names() == before


def test_skopeo_and_podman_read_jocker_archives_and_back(jocker, busybox_image, tmp_path, images):
    reason = need("skopeo", "podman")
    if reason:
        pytest.skip(reason)
    images.append("arch/interop:1")
    _build(jocker, tmp_path, "arch/interop:1", "interop")
    out = tmp_path / "i.tar"
    jocker("save", "-o", out, "arch/interop:1")
    oci = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", f"docker-archive:{out}", f"oci:{oci}:x"], check=True,
                   capture_output=True)
    subprocess.run(["skopeo", "copy", f"oci:{oci}:x",
                    f"docker-archive:{tmp_path / 'back.tar'}:arch/back:1"], check=True, capture_output=True)
    images.append("arch/back:1")
    assert "Loaded image: arch/back:1" in jocker("load", "-i", tmp_path / "back.tar").stdout
    assert jocker("run", "--rm", "arch/back:1").stdout.strip() == "interop"
    pod = Podman(tmp_path)
    try:
        pod("load", "-i", out)
        assert "arch/interop" in pod("images").stdout
        assert pod.file_of("arch/interop:1", "/hello") == b"interop\n"
        pod("save", "--format", "oci-archive", "-o", tmp_path / "p.tar", "arch/interop:1")
    finally:
        pod.close()
    jocker("rmi", "arch/interop:1")
    images.append("localhost/arch/interop:1")         # podman's name for it
    assert "Loaded image: localhost/arch/interop:1" in jocker("load", "-i", tmp_path / "p.tar").stdout
    assert jocker("run", "--rm", "localhost/arch/interop:1").stdout.strip() == "interop"


def test_layers_from_before_layer_tars_are_mapped_on_export(jocker, engine, busybox_image, tmp_path, images):
    """An image whose config lists a diff ID that is not its layer's tar (made
    before layertar: a change-set digest) still saves and loads: the archive's
    config lists the real diff ID, so it travels under a new image ID."""
    st = engine.load_state()
    base = st.resolve(busybox_image)
    legacy = json.loads(base.raw)
    legacy["rootfs"]["diff_ids"] = ["sha256:" + "1" * 64]
    images.append("legacy:1")
    img = engine.store.create_image(base.layer, legacy, ["legacy:1"])
    out = tmp_path / "legacy.tar"
    jocker("save", "-o", out, "legacy:1")
    jocker("rmi", "legacy:1")
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest[0]["Config"]))
    real = json.loads(jocker("inspect", busybox_image).stdout)[0]["RootFS"]["Layers"]
    assert config["rootfs"]["diff_ids"] == real
    assert "Loaded image: legacy:1" in jocker("load", "-i", out).stdout
    assert json.loads(jocker("inspect", "legacy:1").stdout)[0]["Id"] != img.id
    assert jocker("run", "--rm", "legacy:1", "echo", "ok").stdout.strip() == "ok"


def _moby_archive(path, images_layers):
    """A docker-archive written the way moby's tarexport does: one directory
    per layer (named by a v1 id that depends on the chain) holding layer.tar,
    and a symlink layer.tar -> ../<first>/layer.tar when that diff ID was
    already saved. images_layers: [(tag, [layer bytes, ...]), ...]."""
    import hashlib
    saved: dict[str, str] = {}
    manifest = []
    with tarfile.open(path, "w") as tar:
        def add(name, data=b"", link=None):
            info = tarfile.TarInfo(name)
            info.mtime = 12345
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for tag, layers in images_layers:
            diff_ids, files, chain = [], [], ""
            for data in layers:
                diff = "sha256:" + hashlib.sha256(data).hexdigest()
                chain = hashlib.sha256((chain + diff).encode()).hexdigest()
                diff_ids.append(diff)
                info = tarfile.TarInfo(chain)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 12345
                tar.addfile(info)
                add(f"{chain}/VERSION", b"1.0")
                add(f"{chain}/json", json.dumps({"id": chain}).encode())
                if diff in saved:
                    add(f"{chain}/layer.tar", link=f"../{saved[diff]}/layer.tar")
                else:
                    add(f"{chain}/layer.tar", data)
                    saved[diff] = chain
                files.append(f"{chain}/layer.tar")
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            cname = hashlib.sha256(config).hexdigest() + ".json"
            add(cname, config)
            manifest.append({"Config": cname, "RepoTags": [tag], "Layers": files})
        add("manifest.json", json.dumps(manifest).encode())


def test_load_never_follows_a_symlink_that_replaced_a_directory(jocker, tmp_path, images):
    # Review item 1: `a/` (04777) then `a` -> host file must leave the host
    # file's mode and mtime alone (as must `c/b/` then `c` -> host dir).
    import os
    victim = tmp_path / "victim"
    victim.write_text("host\n")
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    inner = hostdir / "b"
    inner.write_text("host\n")
    for p in (victim, inner):
        os.chmod(p, 0o600)
        os.utime(p, (1_000_000_000, 1_000_000_000))
    layer = layer_tar([("a/", tarfile.DIRTYPE, 0o4777, ""), ("a", tarfile.SYMTYPE, 0o777, str(victim)),
                    ("c/", tarfile.DIRTYPE, 0o755, ""), ("c/b/", tarfile.DIRTYPE, 0o4777, ""),
                    ("c", tarfile.SYMTYPE, 0o777, str(hostdir))])
    evil = tmp_path / "evil.tar"
    _moby_archive(evil, [("arch/evil:1", [layer])])
    images.append("arch/evil:1")
    res = jocker("load", "-i", evil, check=False)
    for p in (victim, inner):
        st = os.stat(p)
        assert oct(st.st_mode & 0o7777) == oct(0o600), (p, res.stdout, res.stderr)
        assert st.st_mtime == 1_000_000_000, p
    assert res.returncode == 0 and "Loaded image: arch/evil:1" in res.stdout, res.stderr


def test_load_moby_archive_with_a_symlinked_shared_layer(jocker, tmp_path, images):
    # Review item 8: moby's tarexport writes layer.tar as a symlink to the
    # first copy of the same diff ID; load resolves it inside the archive.
    base = layer_tar([("etc/", tarfile.DIRTYPE, 0o755, ""), ("etc/base", tarfile.REGTYPE, 0o644, b"base\n")])
    top = layer_tar([("top", tarfile.REGTYPE, 0o644, b"top\n")])
    archive = tmp_path / "moby.tar"
    _moby_archive(archive, [("arch/first:1", [base]), ("arch/second:1", [top, base])])
    with tarfile.open(archive) as tar:
        assert any(m.issym() and m.name.endswith("layer.tar") for m in tar)
    images += ["arch/first:1", "arch/second:1"]
    res = jocker("load", "-i", archive, check=False)
    assert res.returncode == 0, res.stderr
    assert "Loaded image: arch/second:1" in res.stdout
    layers = json.loads(jocker("inspect", "arch/second:1").stdout)[0]["RootFS"]["Layers"]
    assert len(layers) == 2 and layers[1] == json.loads(jocker("inspect", "arch/first:1").stdout)[0]["RootFS"]["Layers"][0]


def test_load_refuses_a_layer_symlink_that_leaves_the_archive(jocker, tmp_path, zfs_names):
    outside = tmp_path / "outside.tar"
    outside.write_bytes(layer_tar([("x", tarfile.REGTYPE, 0o644, b"x")]))
    for link in (str(outside), "../../../../../../../../" + str(outside).lstrip("/")):
        archive = tmp_path / "escape.tar"
        _moby_archive(archive, [("arch/esc:1", [outside.read_bytes()])])
        with tarfile.open(tmp_path / "escape2.tar", "w") as out, tarfile.open(archive) as src:
            for m in src:
                if m.name.endswith("layer.tar"):
                    m.type, m.linkname, m.size = tarfile.SYMTYPE, link, 0
                    out.addfile(m)
                else:
                    out.addfile(m, src.extractfile(m) if m.isreg() else None)
        before = zfs_names()
        res = jocker("load", "-i", tmp_path / "escape2.tar", check=False)
        assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "outside the archive" in res.stderr, res.stderr
        assert zfs_names() == before


@pytest.mark.parametrize("codec", [["gzip", "-c"], ["zstd", "-q", "-c"]])
def test_load_reads_a_compressed_archive_from_stdin(jocker, busybox_image, tmp_path, images, codec):
    """`jocker save IMG | gzip` (or zstd) `| jocker load`: the archive is
    decompressed by its content, streamed for gzip, through the host's zstd."""
    images += ["arch/zip:1"]
    _build(jocker, tmp_path, "arch/zip:1", "zipped")
    data = subprocess.run([*jocker_cmd(jocker), "save", "arch/zip:1"], capture_output=True,
                          env=jocker.env, check=True).stdout
    packed = subprocess.run(codec, input=data, capture_output=True, check=True).stdout
    jocker("rmi", "arch/zip:1")
    proc = subprocess.run([*jocker_cmd(jocker), "load"], input=packed, capture_output=True, env=jocker.env)
    assert proc.returncode == 0 and b"Loaded image: arch/zip:1" in proc.stdout, proc.stderr
    assert jocker("run", "--rm", "arch/zip:1").stdout.strip() == "zipped"
    # damaged: one line, nothing loaded
    jocker("rmi", "arch/zip:1")
    proc = subprocess.run([*jocker_cmd(jocker), "load"], input=packed[: len(packed) // 2],
                          capture_output=True, env=jocker.env)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "arch/zip" not in jocker("images").stdout


def test_load_refuses_a_malformed_layer_media_type(jocker, busybox_image, tmp_path, zfs_names, images):
    """A descriptor's mediaType goes into a layer property whose list is
    split on commas and spaces: one that is not a media type is refused in
    one line naming the layer, and nothing is left."""
    import hashlib
    images.append("mtype/bad:1")
    jocker("tag", busybox_image, "mtype/bad:1")
    good = tmp_path / "good.tar"
    jocker("save", "-o", good, "mtype/bad:1")
    jocker("rmi", "mtype/bad:1")
    before = zfs_names()
    evil = tmp_path / "evil.tar"
    with tarfile.open(good) as src, tarfile.open(evil, "w") as dst:
        index = json.load(src.extractfile("index.json"))
        mdigest = index["manifests"][0]["digest"]
        manifest = json.load(src.extractfile("blobs/sha256/" + mdigest[7:]))
        manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip,evil x"
        raw = json.dumps(manifest).encode()
        new = "sha256:" + hashlib.sha256(raw).hexdigest()
        index["manifests"][0].update(digest=new, size=len(raw))
        changed = {"index.json": json.dumps(index).encode(), "blobs/sha256/" + new[7:]: raw}
        for m in src.getmembers():
            if m.name in ("manifest.json", "repositories", "index.json"):
                continue                # OCI layout only
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, data in changed.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    res = jocker("load", "-i", evil, check=False)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 125 and len(lines) == 1 and "invalid media type" in lines[0], res.stderr
    assert "layer 1/" in lines[0]
    assert zfs_names() == before
