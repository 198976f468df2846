"""layertar: deterministic OCI layer tars written from a tree diff, applied
safely onto a copy of the parent (whiteouts, opaque dirs, links, escapes)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile

import pytest

from jocker.images import layertar
from support import layer_tar
from jocker.images.layertar import EMPTY_DIFF_ID, LayerError, apply_layer, tree_changes, write_layer


def _tree(root):
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:*:0:0\n")
    (root / "etc" / "gone").write_text("x")
    (root / "var").mkdir()
    (root / "var" / "old").mkdir()
    (root / "var" / "old" / "a").write_text("a")
    (root / "lib").symlink_to("/usr/lib")


def _layer_bytes(parent, child, since=0.0, epoch=None):
    buf = io.BytesIO()
    diff_id, size = write_layer(str(child), tree_changes(str(parent), str(child), since), buf, epoch=epoch)
    return diff_id, buf.getvalue()


def test_empty_layer_is_dockers_empty_layer(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    diff_id, data = _layer_bytes(a, b)
    assert data == b"\0" * 1024
    assert diff_id == EMPTY_DIFF_ID == \
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def test_same_content_same_bytes_and_round_trip(tmp_path):
    parent = tmp_path / "parent"
    _tree(parent)
    child = tmp_path / "child"
    shutil.copytree(parent, child, symlinks=True)
    (child / "etc" / "gone").unlink()
    (child / "etc" / "motd").write_text("hi\n")
    os.link(child / "etc" / "motd", child / "etc" / "motd2")
    (child / "bin").mkdir()
    (child / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(child / "bin" / "tool", 0o4755)
    d1, data1 = _layer_bytes(parent, child)
    d2, data2 = _layer_bytes(parent, child)
    assert d1 == d2 and data1 == data2
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(data1))]
    assert names == sorted(names)
    assert "etc/.wh.gone" in names
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(data1))}
    assert members["etc/motd2"].islnk() and members["etc/motd2"].linkname == "etc/motd"
    assert members["etc/motd"].uname == "" and members["etc/motd"].mode == 0o644
    # Apply onto another copy of the parent: same tree, same diff ID.
    target = tmp_path / "target"
    shutil.copytree(parent, target, symlinks=True)
    applied, size = apply_layer(io.BytesIO(data1), str(target))
    assert applied == d1 and size == len(data1)
    assert not (target / "etc" / "gone").exists()
    assert (target / "etc" / "motd").read_text() == "hi\n"
    assert os.stat(target / "etc" / "motd").st_ino == os.stat(target / "etc" / "motd2").st_ino
    assert os.stat(target / "bin" / "tool").st_mode & 0o7777 == 0o4755


def test_source_date_epoch_clamps_mtimes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (b / "f").write_text("x")
    _, data = _layer_bytes(a, b, epoch=1000)
    assert [m.mtime for m in tarfile.open(fileobj=io.BytesIO(data))] == [1000]


def _tar(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buf.seek(0)
    return buf


def _m(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def test_opaque_dir_hides_lower_children_wherever_it_comes(tmp_path):
    root = tmp_path / "root"
    _tree(root)
    # the layer's own file comes before the opaque marker: it must survive
    stream = _tar((_m("var/old/new"), b"n"), (_m("var/old/.wh..wh..opq"), None))
    apply_layer(stream, str(root))
    assert sorted(os.listdir(root / "var" / "old")) == ["new"]


@pytest.mark.parametrize("members, why", [
    ([(_m("../evil"), b"x")], "'..'"),
    ([(_m("/abs"), b"x")], "absolute"),
    ([(_m("etc/h", tarfile.LNKTYPE, "../../etc/passwd"), None)], "'..'"),
    ([(_m("x", tarfile.LNKTYPE, "nope"), None)], "hard link"),
])
def test_unsafe_members_are_refused_by_name(tmp_path, members, why):
    root = tmp_path / "root"
    _tree(root)
    with pytest.raises(LayerError) as e:
        apply_layer(_tar(*members), str(root), what="image web, layer 1/1")
    assert why in str(e.value) and "image web, layer 1/1" in str(e.value)


def test_absolute_symlink_write_through_stays_inside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    stream = _tar((_m("esc", tarfile.SYMTYPE, str(outside)), None), (_m("esc/pwned"), b"x"))
    apply_layer(stream, str(root))
    assert not (outside / "pwned").exists()
    assert (root / str(outside).lstrip("/") / "pwned").exists()


def test_truncated_stream_is_an_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = _tar((_m("big"), b"y" * 100000)).getvalue()[:5000]
    with pytest.raises(LayerError, match="truncated|invalid"):
        apply_layer(io.BytesIO(data), str(root))


def test_device_nodes_need_root(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    dev = _m("dev/null", tarfile.CHRTYPE)
    dev.devmajor, dev.devminor = 1, 3
    monkeypatch.setattr(layertar.os, "geteuid", lambda: 1000)
    with pytest.raises(LayerError, match="as root"):
        apply_layer(_tar((dev, None)), str(root))


def test_bsd_file_flag_names_round_trip():
    """pax SCHILY.fflags as libarchive writes them; set on FreeBSD only."""
    from jocker.images.layertar import fflags_bits, fflags_text
    import stat
    bits = stat.SF_IMMUTABLE | stat.UF_NODUMP
    assert fflags_text(bits) == "nodump,schg"
    assert fflags_bits("schg,nodump") == bits and fflags_bits("bogus") == 0


def _victim(path, mode=0o600):
    path.write_text("host secret\n")
    os.chmod(path, mode)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def test_dir_replaced_by_symlink_never_touches_the_host(tmp_path):
    # Review item 1: a directory's mode and mtime, applied at the end, must
    # not follow a symlink that replaced the directory later in the stream.
    victim = _victim(tmp_path / "victim")
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    inner = _victim(hostdir / "b")
    os.chmod(hostdir, 0o700)
    os.utime(hostdir, (1_000_000_000, 1_000_000_000))
    root = tmp_path / "root"
    root.mkdir()
    data = layer_tar([
        ("a/", tarfile.DIRTYPE, 0o4777, ""),
        ("a", tarfile.SYMTYPE, 0o777, str(victim)),
        ("c/", tarfile.DIRTYPE, 0o755, ""),
        ("c/b/", tarfile.DIRTYPE, 0o4777, ""),
        ("c", tarfile.SYMTYPE, 0o777, str(hostdir)),
    ])
    apply_layer(io.BytesIO(data), str(root))
    assert os.readlink(root / "a") == str(victim)
    for p in (victim, inner):
        st = os.stat(p)
        assert oct(st.st_mode & 0o7777) == oct(0o600), p
        assert st.st_mtime == 1_000_000_000, p
    st = os.stat(hostdir)
    assert oct(st.st_mode & 0o7777) == oct(0o700) and st.st_mtime == 1_000_000_000


def test_dir_mode_applied_once_last_entry_wins(tmp_path):
    # A directory named twice (implicitly as a parent, then explicitly) keeps
    # the mode of the last entry, set on the directory itself.
    root = tmp_path / "root"
    root.mkdir()
    data = layer_tar([
        ("d/e/", tarfile.DIRTYPE, 0o755, ""),
        ("d/", tarfile.DIRTYPE, 0o750, ""),
    ])
    apply_layer(io.BytesIO(data), str(root))
    assert oct(os.stat(root / "d").st_mode & 0o7777) == oct(0o750)
    assert os.stat(root / "d").st_mtime == 12345


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_dir_mode_set_below_a_search_only_directory(tmp_path):
    # The fd walk to a deferred directory crosses a lower-layer directory
    # that is searchable but not readable (0311), as a path lookup would.
    root = tmp_path / "root"
    (root / "x" / "y").mkdir(parents=True)
    os.chmod(root / "x", 0o311)
    try:
        apply_layer(io.BytesIO(layer_tar([("x/y/", tarfile.DIRTYPE, 0o750, "")])), str(root))
        assert oct(os.stat(root / "x" / "y").st_mode & 0o7777) == oct(0o750)
    finally:
        os.chmod(root / "x", 0o755)


# -- read-ahead (pull and load apply blobs with the reading on a worker thread) --------

def _read_ahead_threads():
    import threading
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_read_ahead_applies_the_same_tree_with_the_same_diff_id(tmp_path):
    import gzip
    plain = _tar((_m("d", tarfile.DIRTYPE), None), (_m("d/big"), os.urandom(3 * layertar.BLOCK + 7)),
                 (_m("d/small"), b"s"), (_m("link", tarfile.SYMTYPE, "d/small"), None)).getvalue()
    got = {}
    for ahead in (False, True):
        root = tmp_path / f"root-{ahead}"
        root.mkdir()
        with gzip.open(io.BytesIO(gzip.compress(plain))) as stream:
            got[ahead] = apply_layer(stream, str(root), read_ahead=ahead)
        assert (root / "d" / "big").stat().st_size == 3 * layertar.BLOCK + 7
        assert os.readlink(root / "link") == "d/small"
    import hashlib
    assert got[True] == got[False] == ("sha256:" + hashlib.sha256(plain).hexdigest(), len(plain))
    assert not _read_ahead_threads()


def test_read_ahead_raises_corrupt_compressed_data_and_stops_its_worker(tmp_path):
    import gzip
    import zlib
    root = tmp_path / "root"
    root.mkdir()
    plain = _tar((_m("big"), os.urandom(2 * layertar.BLOCK)), (_m("after"), b"a")).getvalue()
    blob = bytearray(gzip.compress(plain, compresslevel=1))
    blob[len(blob) // 2:len(blob) // 2 + 64] = bytes(64)           # damaged in the middle
    with pytest.raises((zlib.error, OSError, EOFError, LayerError)):
        with gzip.open(io.BytesIO(bytes(blob))) as stream:
            apply_layer(stream, str(root), read_ahead=True)
    assert not (root / "after").exists()
    assert not _read_ahead_threads()


def test_read_ahead_stops_its_worker_when_a_member_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    # refused at the first member, while megabytes are still to be read ahead
    stream = _tar((_m("../escape"), b"x"), *[(_m(f"f{i}"), os.urandom(layertar.BLOCK)) for i in range(20)])
    with pytest.raises(LayerError, match="escapes the root"):
        apply_layer(stream, str(root), read_ahead=True)
    assert not _read_ahead_threads()
    assert os.listdir(root) == []


def test_a_member_below_a_regular_file_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError, match="/a is not a directory"):
        apply_layer(_tar((_m("a"), b"file"), (_m("a/b/c"), b"x")), str(root))
    assert (root / "a").read_bytes() == b"file"


def test_missing_parents_are_made_below_the_deepest_existing_directory(tmp_path):
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True)
    apply_layer(_tar((_m("usr/lib/x/y/f"), b"f"), (_m("usr/lib/x/g"), b"g")), str(root))
    assert (root / "usr/lib/x/y/f").read_bytes() == b"f" and (root / "usr/lib/x/g").read_bytes() == b"g"
    assert oct((root / "usr/lib/x").stat().st_mode & 0o777) == oct(0o755)
