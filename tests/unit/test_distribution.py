"""Registry names, the WWW-Authenticate challenge, credentials (auths and
credential helpers), and platform choice from an index."""

from __future__ import annotations

import json
import os

import pytest

from jocker.distribution.auth import CredentialStore, Credentials, parse_challenge
from jocker.distribution.names import familiar, is_insecure, resolve
from jocker.distribution.pull import choose, parse_platform
from jocker.errors import NotFound, UsageError
from jocker.host.runner import Runner


def test_names_resolve_like_docker():
    r = resolve("alpine", ["docker.io"])[0]
    assert (r.registry, r.api_host, r.repository, r.reference, r.local) == \
        ("docker.io", "registry-1.docker.io", "library/alpine", "latest", "alpine")
    r = resolve("localhost:5000/web:1", ["docker.io"])[0]
    assert (r.registry, r.repository, r.tag, r.local_tag) == ("localhost:5000", "web", "1", "localhost:5000/web:1")
    assert [c.registry for c in resolve("freebsd/freebsd-runtime", ["ghcr.io", "docker.io"])] == \
        ["ghcr.io", "docker.io"]
    d = "sha256:" + "a" * 64
    assert resolve(f"ghcr.io/freebsd/x@{d}", [])[0].reference == d
    assert familiar("docker.io/library/alpine") == "alpine" and familiar("docker.io/a/b") == "a/b"
    assert is_insecure("localhost:5000", []) and is_insecure("127.0.0.1:5000", [])
    assert not is_insecure("ghcr.io", []) and is_insecure("reg.lan:5000", ["reg.lan:5000"])


def test_challenge_parsing():
    ch = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                         'scope="repository:library/alpine:pull"')
    assert ch.scheme == "bearer" and ch.params["realm"] == "https://auth.docker.io/token"
    assert ch.params["scope"] == "repository:library/alpine:pull"
    assert parse_challenge('Basic realm="x"').scheme == "basic"


def test_platform_choice_names_what_is_there():
    index = {"manifests": [{"digest": "sha256:1", "platform": {"os": "freebsd", "architecture": "amd64"}},
                           {"digest": "sha256:2", "platform": {"os": "freebsd", "architecture": "arm64"}}]}
    assert choose(index, ("freebsd", "arm64", ""), "image x")["digest"] == "sha256:2"
    with pytest.raises(NotFound, match=r"linux/amd64 .*available: freebsd/amd64, freebsd/arm64"):
        choose(index, ("linux", "amd64", ""), "image x")
    assert parse_platform("freebsd/arm64/v8") == ("freebsd", "arm64", "v8")
    with pytest.raises(UsageError):
        parse_platform("freebsd")


def test_credentials_auths_and_helpers(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    store = CredentialStore(Runner(), str(path))
    assert store.get("reg.lan:5000") is None
    store.store("reg.lan:5000", Credentials("me", "secret"))
    assert json.loads(path.read_text())["auths"]["reg.lan:5000"]["auth"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert store.get("reg.lan:5000") == Credentials("me", "secret")
    assert store.erase("reg.lan:5000") and store.get("reg.lan:5000") is None
    # a credential helper named by credHelpers answers `get` on stdin/stdout
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread server\n[ "$1" = get ] && '
                      'printf \'{"ServerURL":"%s","Username":"hu","Secret":"hs"}\' "$server"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    path.write_text(json.dumps({"credHelpers": {"ghcr.io": "fake"}}))
    assert store.get("ghcr.io") == Credentials("hu", "hs")
    assert store.get("other.io") is None


def test_progress_lines_on_a_terminal_and_in_logs():
    import io
    from jocker.cli.progress import ProgressPrinter
    plain = io.StringIO()
    p = ProgressPrinter(plain, tty=False)
    for ev in ({"status": "1: Pulling from web"}, {"id": "abc", "status": "Pulling fs layer"},
               {"id": "abc", "status": "Downloading", "current": 1, "total": 10},
               {"id": "abc", "status": "Downloading", "current": 5, "total": 10},
               {"id": "abc", "status": "Pull complete"}):
        p(ev)
    assert plain.getvalue().splitlines() == ["1: Pulling from web", "abc: Pulling fs layer",
                                             "abc: Downloading", "abc: Pull complete"]
    tty = io.StringIO()
    p = ProgressPrinter(tty, tty=True)
    p({"id": "a", "status": "Waiting"})
    p({"id": "b", "status": "Waiting"})
    p({"id": "a", "status": "Downloading", "current": 1 << 20, "total": 4 << 20})
    assert "\x1b[2A\x1b[2K\ra: Downloading" in tty.getvalue()       # rewrites a's line in place
    quiet = io.StringIO()
    ProgressPrinter(quiet, tty=True, quiet=True)({"id": "a", "status": "x"})
    assert quiet.getvalue() == ""


def test_blob_store_keeps_partial_transfers_to_resume_then_forgets_them(tmp_path):
    import hashlib
    import time
    from jocker.images.blobs import PARTIAL_TTL, BlobStore
    store = BlobStore(str(tmp_path))
    data = os.urandom(5000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(RuntimeError):
        with store.resumable(digest) as w:
            w.write(data[:3000])
            raise RuntimeError("connection lost")
    session = store.upload_session(digest, "reg:5000/repo")
    session.save("http://reg:5000/v2/repo/blobs/uploads/u?_state=x")
    assert store.upload_session(digest, "reg:5000/repo").location.endswith("_state=x")
    assert store.upload_session(digest, "reg:5000/other").location == ""
    store.prune(set())                         # young: kept for the next attempt
    with store.resumable(digest) as w:
        assert w.size == 3000                  # continues from where it stopped
        w.write(data[3000:])
        w.commit(digest)
    assert store.has(digest) and not [n for n in os.listdir(store.dir) if n.startswith(".partial-")]
    with pytest.raises(RuntimeError):
        with store.resumable("sha256:" + "0" * 64) as w:
            w.write(b"x")
            raise RuntimeError
    old = time.time() - PARTIAL_TTL - 10
    for name in os.listdir(store.dir):
        os.utime(os.path.join(store.dir, name), (old, old))
    store.prune({digest})
    assert os.listdir(store.dir) == [digest[7:]]   # old partials and sessions go


def test_a_partial_blob_that_does_not_match_is_dropped(tmp_path):
    from jocker.images.blobs import BlobStore, DigestMismatch
    store = BlobStore(str(tmp_path))
    digest = "sha256:" + "1" * 64
    with pytest.raises(DigestMismatch):
        with store.resumable(digest) as w:
            w.write(b"not it")
            w.commit(digest)
    assert os.listdir(store.dir) == []


@pytest.mark.parametrize("kind", ["none", "gzip", "xz", "zstd"])
def test_layer_blobs_decompress_by_content(tmp_path, kind):
    import gzip
    import lzma
    import shutil
    import subprocess
    from jocker.images.decompress import CorruptBlob, open_layer
    if kind == "zstd" and not shutil.which("zstd"):
        pytest.skip("needs zstd (sh examples/install-host-deps.sh)")
    plain = os.urandom(300000) + bytes(300000)
    pack = {"none": lambda b: b, "gzip": gzip.compress, "xz": lzma.compress,
            "zstd": lambda b: subprocess.run(["zstd", "-q", "-c"], input=b, capture_output=True,
                                             check=True).stdout}[kind]
    blob = tmp_path / "blob"
    blob.write_bytes(pack(plain))
    with open_layer(Runner(), str(blob), "image x, layer 1/1") as f:
        assert f.read() == plain
    if kind == "none":
        return
    data = bytearray(blob.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)          # damaged in the middle
    blob.write_bytes(bytes(data))
    with pytest.raises(CorruptBlob) as err:
        with open_layer(Runner(), str(blob), "image x, layer 1/1") as f:
            while f.read(65536):
                pass
    msg = str(err.value)
    assert f"corrupt {kind} data" in msg and "image x, layer 1/1" in msg and "\n" not in msg


def test_two_pulls_of_one_blob_racing_the_commit_both_succeed(tmp_path, monkeypatch):
    """A second pull that looks for the partial blob while the first one
    renames it into place neither fails nor resumes a file that is gone."""
    import hashlib
    import os
    import threading
    import jocker.images.blobs as blobs
    store = blobs.BlobStore(str(tmp_path))
    data = os.urandom(1 << 16)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    real_replace, second = os.replace, []

    def pull_again():
        try:
            with store.resumable(digest) as w:
                w.write(data[w.size:])
                w.commit(digest)
            second.append("ok")
        except BaseException as e:         # reported below
            second.append(repr(e))

    def replace(src, dst):
        if ".partial-" in src and not second:
            t = threading.Thread(target=pull_again)
            t.start()
            t.join(0.5)
            real_replace(src, dst)
            t.join()
            return
        real_replace(src, dst)
    monkeypatch.setattr(blobs.os, "replace", replace)
    with store.resumable(digest) as w:
        w.write(data)
        w.commit(digest)
    assert second == ["ok"]
    assert open(store.path(digest), "rb").read() == data
    assert not [n for n in os.listdir(tmp_path) if n.startswith((".partial-", ".tmp-"))]


def test_layer_blob_property_lists_one_blob_per_compression_and_reads_the_old_form():
    from jocker.images.blobs import PROP, BlobRef, encode_all, referenced
    d1, d2, diff = ("sha256:" + c * 64 for c in "123")
    old = {PROP: f"application/vnd.docker.image.rootfs.diff.tar.gzip {d1} 10 {diff}"}
    assert [r.compression for r in BlobRef.all_of(old)] == ["gzip"]
    assert BlobRef.of(old).digest == d1
    refs = [BlobRef.of(old), BlobRef("application/vnd.oci.image.layer.v1.tar+zstd", d2, 7, diff)]
    both = {PROP: encode_all(refs)}
    assert BlobRef.all_of(both) == refs and BlobRef.of(both) == refs[0]
    assert [r.compression for r in refs] == ["gzip", "zstd"]
    assert BlobRef("application/vnd.oci.image.layer.v1.tar", d1, 1).compression == "none"
    assert referenced([both, {}, {PROP: "garbage"}]) == {d1, d2}


@pytest.mark.parametrize("fmt,level", [("gzip", None), ("gzip", 1), ("zstd", None), ("zstd", 19)])
def test_layer_compressor_round_trip(tmp_path, fmt, level):
    import io
    import shutil
    from jocker.images.compress import compressor
    from jocker.images.decompress import open_layer, sniff
    if fmt == "zstd" and not shutil.which("zstd"):
        pytest.skip("needs zstd (sh examples/install-host-deps.sh)")
    plain = os.urandom(3 << 20) + bytes(3 << 20)        # more than a pipe holds, both ways
    out = io.BytesIO()
    with compressor(Runner(), fmt, level, out, "layer x") as sink:
        for i in range(0, len(plain), 100000):
            sink.write(plain[i:i + 100000])
    blob = tmp_path / "blob"
    blob.write_bytes(out.getvalue())
    assert sniff(out.getvalue()[:8]) == fmt and len(out.getvalue()) < len(plain)
    with open_layer(Runner(), str(blob), "layer x") as f:
        assert f.read() == plain


@pytest.mark.parametrize("fmt,level,expect", [("lz4", None, "invalid compression format 'lz4'"),
                                              ("zstd", 20, "invalid zstd compression level 20"),
                                              ("gzip", 0, "invalid gzip compression level 0")])
def test_a_bad_push_compression_is_a_usage_error(fmt, level, expect):
    from jocker.errors import UsageError
    from jocker.images.compress import check
    with pytest.raises(UsageError) as err:
        check(fmt, level)
    assert expect in str(err.value) and "\n" not in str(err.value)
