"""Pure units: name validation, references, configuration precedence,
property chunking, Docker-style formatting."""

from __future__ import annotations

import pytest

from jocker import config as config_mod
from jocker.errors import InvalidName, UsageError
from jocker.format import format_rows, human_duration, human_size, table
from jocker.names import check_object_name
from jocker.reference import looks_like_id, parse_reference
from jocker.storage import props as P
from jocker.storage.zfs_cli import parse_get_output


@pytest.mark.parametrize("ref,repo,tag", [
    ("busybox", "busybox", None),
    ("busybox:1.36", "busybox", "1.36"),
    ("localhost:5000/team/app:v1", "localhost:5000/team/app", "v1"),
    ("registry.example.org/freebsd/runtime:14.3", "registry.example.org/freebsd/runtime", "14.3"),
    ("a__b/c-d.e:T_1", "a__b/c-d.e", "T_1"),
])
def test_references_parse(ref, repo, tag):
    r = parse_reference(ref)
    assert (r.repository, r.tag) == (repo, tag)


@pytest.mark.parametrize("bad", ["Upper", "a b", "../x", "x/../y", "-x", "x;rm", "x:", "x:-t",
                                 "x" * 256, "a//b", "x\ny", "x@sha256:zz"])
def test_bad_references_refused(bad):
    with pytest.raises(InvalidName) as e:
        parse_reference(bad)
    assert "\n" not in str(e.value)


def test_digest_reference_and_ids():
    d = "sha256:" + "a" * 64
    r = parse_reference("app@" + d)
    assert r.digest == d and str(r) == "app@" + d
    assert looks_like_id("abc123") == "abc123"
    assert looks_like_id("sha256:abc") == "abc"
    assert looks_like_id("busybox") is None


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x/y", ".x", "-x", "a" * 129, "x\x00"])
def test_object_names(bad):
    with pytest.raises(InvalidName):
        check_object_name(bad)
    assert check_object_name("web_1.prod-a") == "web_1.prod-a"


def test_config_precedence(tmp_path):
    conf = tmp_path / "jocker.conf"
    conf.write_text('# comment\ndataset = "tank/jk"\nmountpoint=/srv/jocker\nstop_timeout = 20\n')
    env = {"JOCKER_CONFIG": str(conf), "JOCKER_MOUNTPOINT": "/env/jocker"}
    cfg = config_mod.load(environ=env, overrides={"stop_timeout": "5", "dataset": None})
    assert cfg.dataset == "tank/jk" and cfg.sources["dataset"] == str(conf)
    assert cfg.mountpoint == "/env/jocker" and cfg.sources["mountpoint"] == "environment JOCKER_MOUNTPOINT"
    assert cfg.stop_timeout == "5" and cfg.sources["stop_timeout"] == "command line"
    assert cfg.rundir == "/var/run/jocker" and cfg.sources["rundir"] == "default"
    assert cfg.root == "tank/jk" and not cfg.embedded


def test_config_embedded_default_and_errors(tmp_path):
    cfg = config_mod.load(environ={})
    assert cfg.embedded and cfg.root == "jockerpool/jocker"
    bad = tmp_path / "bad.conf"
    bad.write_text("dataset = zroot/jocker\nfrobnicate = 1\n")
    with pytest.raises(UsageError, match=r"bad.conf:2: unknown setting 'frobnicate'"):
        config_mod.load(environ={"JOCKER_CONFIG": str(bad)})
    with pytest.raises(UsageError, match="does not exist"):
        config_mod.load(environ={"JOCKER_CONFIG": str(tmp_path / "missing.conf")})
    for key, value in (("dataset", "/abs"), ("dataset", "a/../b"), ("mountpoint", "rel"),
                       ("runtime", "docker"), ("stop_timeout", "ten")):
        with pytest.raises(UsageError):
            config_mod.load(environ={f"JOCKER_{key.upper()}": value})


def test_props_chunking_roundtrip():
    value = "x" * (P.CHUNK * 3 + 17)
    enc = P.encode("image.config", value)
    assert enc["jocker:image.config.n"] == "4"
    assert all(len(v) <= P.CHUNK for v in enc.values())
    assert P.decode(enc, "image.config") == value
    torn = dict(enc)
    del torn["jocker:image.config.2"]
    assert P.decode(torn, "image.config") is None
    small = P.encode_json("image.tags", {"a:b": 1.5})
    assert small == {"jocker:image.tags": '{"a:b":1.5}'}
    assert sorted(P.names_for(enc, "image.config"))[0] == "jocker:image.config.0"
    with pytest.raises(ValueError):
        P.prop_name("Bad Name")


def test_parse_get_output_filters_inherited_user_props():
    text = ("p/a\tjocker:x\t1\tlocal\np/a@s\tjocker:x\t1\tinherited from p/a\n"
            "p/a@s\tjocker:y\t2\treceived\np/a\tused\t4096\t-\np/a\tjunk\t1\t-\n")
    tree = parse_get_output(text)
    assert tree["p/a"] == {"jocker:x": "1", "used": "4096"}
    assert tree["p/a@s"] == {"jocker:y": "2"}


def test_docker_style_formatting():
    assert human_size(0) == "0B" and human_size(2392064) == "2.39MB" and human_size(1500) == "1.5kB"
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(90) == "About a minute"
    assert human_duration(3 * 3600) == "3 hours"
    assert table(["A", "LONGER"], [["x", "y"]]) == "A         LONGER\nx         y"   # tabwriter minwidth 10
    rows = [{"Repository": "r", "Tag": "t"}]
    assert format_rows("{{.Repository}}:{{.Tag}}", rows) == "r:t"
    assert format_rows("{{json .}}", rows) == '{"Repository":"r","Tag":"t"}'
