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
