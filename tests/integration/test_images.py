"""Images end to end: real ZFS datasets and snapshots, the real CLI."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import tarfile
from pathlib import Path

import pytest


def _make_tar(path: Path, files: dict[str, bytes], compress=None, extra=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    raw = buf.getvalue()
    if compress == "gz":
        raw = gzip.compress(raw)
    elif compress == "xz":
        raw = lzma.compress(raw)
    elif compress == "bz2":
        raw = bz2.compress(raw)
    elif compress == "zst":          # the host's zstd, as jocker reads it
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    path.write_bytes(raw)
    return path


def test_import_directory_and_list(jocker, busybox_image, jocker_env, zfs_names):
    out = jocker("images").stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = [line for line in out if line.startswith("busybox ")][0].split()
    assert row[1] == "latest" and len(row[2]) == 12
    full = jocker("inspect", "-f", "{{.Id}}", busybox_image).stdout.strip()
    assert full.startswith("sha256:") and full[7:19] == row[2]
    # The image is a real snapshot carrying its config as user properties.
    snap = json.loads(jocker("inspect", busybox_image).stdout)[0]["GraphDriver"]["Data"]["Snapshot"]
    assert snap in zfs_names()
    prop = subprocess.run(["zfs", "get", "-H", "-o", "value", "jocker:image.id", snap],
                          capture_output=True, text=True).stdout.strip()
    assert prop == full


@pytest.mark.parametrize("compress", [None, "gz", "xz", "bz2", "zst"])
def test_import_tarball_compressions(jocker, tmp_path, compress):
    tarball = _make_tar(tmp_path / "root.tar", {"hello.txt": b"hi\n", "bin/tool": b"#!/bin/sh\n"}, compress)
    out = jocker("import", tarball, f"tarimg:{compress or 'plain'}")
    iid = out.stdout.strip()
    insp = json.loads(jocker("inspect", iid).stdout)[0]
    assert insp["RepoTags"] == [f"tarimg:{compress or 'plain'}"]
    assert insp["RootFS"]["Layers"][0].startswith("sha256:")
    jocker("rmi", f"tarimg:{compress or 'plain'}")


def test_identical_content_shares_one_layer(jocker, tmp_path, jocker_env, zfs_names):
    tarball = _make_tar(tmp_path / "same.tar", {"f": b"same"})
    a = json.loads(jocker("inspect", jocker("import", tarball, "same:a").stdout.strip()).stdout)[0]
    b = json.loads(jocker("inspect", jocker("import", "-m", "second", tarball, "same:b").stdout.strip()).stdout)[0]
    assert a["Id"] != b["Id"]        # different configs (created, comment)
    assert a["GraphDriver"]["Data"]["Dataset"] == b["GraphDriver"]["Data"]["Dataset"]
    assert b["Comment"] == "second"
    jocker("rmi", "same:a")
    assert a["GraphDriver"]["Data"]["Dataset"] in zfs_names()   # still used by same:b
    jocker("rmi", "same:b")
    assert a["GraphDriver"]["Data"]["Dataset"] not in zfs_names()


def test_import_from_stdin(jocker, tmp_path):
    tarball = _make_tar(tmp_path / "s.tar", {"x": b"1"})
    proc = subprocess.run(["python", "-m", "jocker", "import", "-", "stdin:1"],
                          stdin=open(tarball, "rb"), capture_output=True, env=jocker.env)
    assert proc.returncode == 0, proc.stderr
    assert "stdin:1" in jocker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    jocker("rmi", "stdin:1")


def test_truncated_and_corrupt_tarballs_leave_nothing(jocker, tmp_path, jocker_env, zfs_names):
    before = zfs_names()
    good = _make_tar(tmp_path / "g.tar.gz", {"big": bytes(200000)}, "gz")
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(good.read_bytes()[:-500])
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive at all" * 40)
    for bad in (truncated, garbage):
        proc = jocker("import", bad, "broken:1", check=False)
        assert proc.returncode == 125
        assert "invalid archive" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert zfs_names() == before
    assert "broken" not in jocker("images").stdout


def test_path_traversal_tarball_refused(jocker, tmp_path, jocker_env, zfs_names):
    before = zfs_names()
    link = tarfile.TarInfo("etc")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    for files, extra in (({"../escape": b"x"}, ()), ({"etc/passwd": b"owned"}, (link,))):
        tarball = _make_tar(tmp_path / "evil.tar", {}, None, extra)
        if files:
            tarball = _make_tar(tmp_path / "evil.tar", files, None, extra) if not extra else \
                _evil_through_symlink(tmp_path / "evil.tar", link)
        proc = jocker("import", tarball, "evil:1", check=False)
        assert proc.returncode == 125, proc.stdout
        assert "invalid archive" in proc.stderr
    assert zfs_names() == before


def _evil_through_symlink(path, link):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(link)
        info = tarfile.TarInfo("etc/passwd")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"owned"))
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("bad", ["UPPER:1", "has space", "a/../b", "-leading", "semi;colon",
                                 "x" * 300, "tab\tname", "ok:bad tag", "ok:" + "t" * 200, "ok:.dot"])
def test_bad_names_refused_before_zfs(jocker, tmp_path, jocker_env, bad, zfs_names):
    before = zfs_names()
    tarball = _make_tar(tmp_path / "n.tar", {"f": b"1"})
    proc = jocker("import", "--", tarball, bad, check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith("Error: invalid") and len(proc.stderr.strip().splitlines()) == 1
    assert zfs_names() == before


def test_tag_and_rmi_semantics(jocker, busybox_image):
    jocker("tag", busybox_image, "localhost:5000/team/bb:1.0")
    jocker("tag", busybox_image, "bb2")
    tags = json.loads(jocker("inspect", busybox_image).stdout)[0]["RepoTags"]
    assert {"busybox:latest", "localhost:5000/team/bb:1.0", "bb2:latest"} <= set(tags)
    # An ID with several tags needs --force.
    iid = jocker("inspect", "-f", "{{.Id}}", busybox_image).stdout.strip()
    proc = jocker("rmi", iid[7:19], check=False)
    assert proc.returncode == 1 and "referenced in multiple repositories" in proc.stderr
    # Removing one of several tags only untags.
    assert jocker("rmi", "bb2").stdout.strip() == "Untagged: bb2:latest"
    assert jocker("rmi", "localhost:5000/team/bb:1.0").stdout.strip() == \
        "Untagged: localhost:5000/team/bb:1.0"
    proc = jocker("rmi", "nosuch:tag", check=False)
    assert proc.returncode == 1 and "No such image: nosuch:tag" in proc.stderr


def test_tag_moves_between_images(jocker, tmp_path):
    t1 = _make_tar(tmp_path / "1.tar", {"v": b"1"})
    t2 = _make_tar(tmp_path / "2.tar", {"v": b"2"})
    id1 = jocker("import", t1, "moving:latest").stdout.strip()
    id2 = jocker("import", t2, "moving:latest").stdout.strip()
    assert jocker("inspect", "-f", "{{.Id}}", "moving").stdout.strip() == id2
    # The first image is now dangling.
    dangling = jocker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split()
    assert id1 in dangling and id2 not in dangling
    jocker("rmi", "moving")
    jocker("rmi", id1)
    assert id1 not in jocker("images", "-a", "-q", "--no-trunc").stdout


def test_images_format_filter_and_quiet(jocker, busybox_image, tmp_path):
    t = _make_tar(tmp_path / "l.tar", {"f": b"l"})
    jocker("import", t, "fmt:1")
    out = jocker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=fmt").stdout
    assert out.split() == ["fmt:1"]
    table = jocker("images", "--format", "table {{.Repository}}\t{{.Tag}}", "fmt").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"] and table[1].split() == ["fmt", "1"]
    q = jocker("images", "-q", "fmt:1").stdout.split()
    assert len(q) == 1 and len(q[0]) == 12
    proc = jocker("images", "--filter", "bogus=1", check=False)
    assert proc.returncode == 125 and "invalid filter" in proc.stderr
    jocker("rmi", "fmt:1")


def test_history_and_system_df(jocker, busybox_image):
    hist = jocker("history", busybox_image).stdout.splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"]
    assert "jocker import" in hist[1]
    df = jocker("system", "df").stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].startswith("Images")
    verbose = jocker("system", "df", "-v").stdout
    assert "SHARED SIZE" in verbose and "UNIQUE SIZE" in verbose


def test_large_config_is_chunked_and_read_back(engine, busybox_image):
    from jocker.images.imageconfig import new_config
    st = engine.load_state()
    base = st.resolve(busybox_image)
    labels = {f"label.{i}": "v" * 100 for i in range(200)}      # ~25 KB of JSON
    cfg = new_config(diff_ids=base.config["rootfs"]["diff_ids"],
                     container_config={"Labels": labels}, parent=base.id)
    img = engine.store.create_image(base.layer, cfg, ["chunky:1"])
    again = engine.load_state().resolve("chunky:1")
    assert again.id == img.id and again.labels == labels
    props = engine.zfs.get(again.snapshot)
    assert int(props["jocker:image.config.n"]) > 2
    from jocker.images.remove import remove_image
    remove_image(engine.store, "chunky:1")


def test_interrupted_work_is_collected_but_live_work_is_not(engine, jocker, jocker_env, zfs_names):
    """A layer whose writer died (a killed import or build) is removed by
    `system prune`; one whose writer is alive is left alone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = engine.store.begin_layer()
    engine.zfs.set_props(orphan.dataset, {"jocker:txn": str(dead.pid)})
    live = engine.store.begin_layer()          # our own pid: alive
    out = jocker("system", "prune", "-f").stdout
    names = zfs_names()
    assert orphan.dataset not in names and orphan.dataset in out
    assert live.dataset in names
    engine.store.abort_layer(live)


def test_a_corrupt_zstd_archive_is_one_line_and_leaves_nothing(jocker, tmp_path, zfs_names):
    good = _make_tar(tmp_path / "g.tar.zst", {"a": b"x" * 5000}, "zst").read_bytes()
    bad = tmp_path / "bad.tar.zst"
    bad.write_bytes(good[: len(good) // 2])
    before = zfs_names()
    res = jocker("import", str(bad), "badzst:1", check=False)
    assert res.returncode == 125 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "bad.tar.zst" in res.stderr
    assert zfs_names() == before
